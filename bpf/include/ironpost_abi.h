/* Seed 001 (Ironpost): the ABI between the bundled ironpost_xdp program and
 * the rule that reads its maps (rules/ironpost.lua). Plain C, fixed-width
 * types only; C++ includes it and static_asserts the sizes. */
#ifndef IRONPOST_ABI_H
#define IRONPOST_ABI_H

#include <linux/types.h>

/* ironpost_stats (per-CPU array, one entry): every frame the program sees,
 * its length from the MAC header on, and how many of them the blocklist
 * dropped (a subset of packets: blocked frames are counted too), by
 * protocol: the IPv4 protocol or the IPv6 next header (ICMPv6 is icmp);
 * anything else, non-IP frames included, is other. The protocols are fields,
 * not rows: an array's key must be a plain integer in BTF, so an enum key
 * would leave the map without BTF, and the rule takes the protocol labels
 * from these field names. */
struct ironpost_counts {
  __u64 packets;
  __u64 bytes;
  __u64 blocked;
};

struct ironpost_traffic {
  struct ironpost_counts tcp;
  struct ironpost_counts udp;
  struct ironpost_counts icmp;
  struct ironpost_counts other;
};

/* ironpost_latency (per-CPU array, one entry): each run's time from entry to
 * verdict, bpf_ktime_get_ns(), as a log2 histogram of nanoseconds in
 * bpfex_log2.h's convention (slot k counts (2^(k-1), 2^k] ns, the last slot
 * everything above), zeros counted apart and the exact sum. */
#define IRONPOST_LATENCY_SLOTS 32
struct ironpost_latency {
  __u64 slots[IRONPOST_LATENCY_SLOTS];
  __u64 sum_ns;
  __u64 zero;
};

/* ironpost_blocklist (LPM trie, pinned): IPv4 source prefixes whose frames
 * are dropped (XDP_DROP). Filled by the config's init: and updated at run
 * time by the operator (bpftool map update pinned ...). */
struct ironpost_block_key {
  __u32 prefixlen;
  __be32 addr; /* network byte order */
};

struct ironpost_block {
  __u32 reason; /* the operator's own code; bpfex does not read it */
};

#endif
