/* The ABI between bpfex's bundled BPF programs and its C++ side: plain C,
 * fixed-width types only. C++ includes this and static_asserts the sizes. */
#ifndef BPFEX_ABI_H
#define BPFEX_ABI_H

#include <linux/types.h>

/* Where a packet was counted. */
enum bpfex_hook {
  BPFEX_HOOK_XDP = 0,
  BPFEX_HOOK_TC_INGRESS = 1,
  BPFEX_HOOK_TC_EGRESS = 2,
};

/* iface_traffic: key and value of the per-CPU hash bpfex_iface_stats. */
struct bpfex_iface_key {
  __u32 ifindex;
  enum bpfex_hook hook;
};

struct bpfex_iface_counters {
  __u64 packets;
  __u64 bytes;
};

#endif
