// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Test-only: each run emits one event to a ring buffer and one to a perf
 * event array, numbered, so the tests can check that none is lost. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
  __u64 seq;
  __u32 len;
  __u32 marker;
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events_ring SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(__u32));
} events_perf SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} events_seq SEC(".maps");

SEC("xdp")
int emit_events(struct xdp_md *ctx) {
  __u32 zero = 0;
  __u64 *seq = bpf_map_lookup_elem(&events_seq, &zero);
  if (!seq) return XDP_PASS;
  __u64 n = __sync_fetch_and_add(seq, 1);
  struct event *e = bpf_ringbuf_reserve(&events_ring, sizeof(*e), 0);
  if (e) {
    e->seq = n;
    e->len = (__u32)(ctx->data_end - ctx->data);
    e->marker = 0xb9fe;
    bpf_ringbuf_submit(e, 0);
  }
  struct event pe = {.seq = n, .len = (__u32)(ctx->data_end - ctx->data), .marker = 0xb9ff};
  bpf_perf_event_output(ctx, &events_perf, BPF_F_CURRENT_CPU, &pe, sizeof(pe));
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
