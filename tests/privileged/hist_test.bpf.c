// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Test-only object: a log2 histogram kept as bpf/include/bpfex_log2.h says
 * (slot k counts (2^(k-1), 2^k], zeros apart, the exact sum), fed with known
 * values: each BPF_PROG_TEST_RUN of hist_record carries one value, a u64
 * after 14 bytes of Ethernet header. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpfex_log2.h"

#define HIST_SLOTS 40

struct hist_latency {
  __u64 count;
  __u64 sum;
  __u64 zero;
  __u64 slots[HIST_SLOTS];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct hist_latency);
} hist_latency SEC(".maps");

SEC("xdp")
int hist_record(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (data + 14 + 8 > end) return XDP_PASS;
  __u64 v;
  __builtin_memcpy(&v, data + 14, 8);
  __u32 k = 0;
  struct hist_latency *h = bpf_map_lookup_elem(&hist_latency, &k);
  if (!h) return XDP_PASS;
  h->count += 1;
  h->sum += v;
  if (v == 0) {
    h->zero += 1;
    return XDP_DROP;
  }
  __u32 slot = bpfex_log2_ceil(v);
  if (slot >= HIST_SLOTS) slot = HIST_SLOTS - 1;
  h->slots[slot] += 1;
  return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
