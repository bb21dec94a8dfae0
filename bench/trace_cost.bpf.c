// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* bench/trace_cost.py's programs: what a tracing metric costs per event, on
 * the raw_tp sys_enter/sys_exit hooks every syscall of the host fires.
 *   empty_enter       does nothing (the floor)
 *   count_nr_hash     a per-CPU hash keyed by syscall number, +1 (the shape of
 *                     ebpf_exporter's syscalls example)
 *   count_nr_array    the same count in a per-CPU array indexed by number
 *   lat_enter/lat_exit  a syscall latency histogram: the entry time in a hash
 *                     by thread, then at exit a log2 bucket (bpfex_log2.h's
 *                     convention) and the exact sum in a per-CPU array (the
 *                     shape of a block I/O latency histogram) */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpfex_log2.h"

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 1024);
  __type(key, __u64);
  __type(value, __u64);
} by_nr_hash SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u64);
} by_nr_array SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32);
  __type(value, __u64);
} started SEC(".maps");

#define SLOTS 40
struct latency {
  __u64 slots[SLOTS];
  __u64 sum_ns;
  __u64 zero;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct latency);
} lat SEC(".maps");

SEC("raw_tp/sys_enter")
int empty_enter(struct bpf_raw_tracepoint_args *ctx) { return 0; }

SEC("raw_tp/sys_enter")
int count_nr_hash(struct bpf_raw_tracepoint_args *ctx) {
  __u64 nr = ctx->args[1], one = 1;
  __u64 *v = bpf_map_lookup_elem(&by_nr_hash, &nr);
  if (v) (*v)++;
  else bpf_map_update_elem(&by_nr_hash, &nr, &one, BPF_NOEXIST);
  return 0;
}

SEC("raw_tp/sys_enter")
int count_nr_array(struct bpf_raw_tracepoint_args *ctx) {
  __u32 nr = (__u32)ctx->args[1];
  __u64 *v = bpf_map_lookup_elem(&by_nr_array, &nr);
  if (v) (*v)++;
  return 0;
}

SEC("raw_tp/sys_enter")
int lat_enter(struct bpf_raw_tracepoint_args *ctx) {
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  __u64 now = bpf_ktime_get_ns();
  bpf_map_update_elem(&started, &tid, &now, BPF_ANY);
  return 0;
}

SEC("raw_tp/sys_exit")
int lat_exit(struct bpf_raw_tracepoint_args *ctx) {
  __u32 tid = (__u32)bpf_get_current_pid_tgid(), zero = 0;
  __u64 *t0 = bpf_map_lookup_elem(&started, &tid);
  if (!t0) return 0;
  __u64 d = bpf_ktime_get_ns() - *t0;
  bpf_map_delete_elem(&started, &tid);
  struct latency *l = bpf_map_lookup_elem(&lat, &zero);
  if (!l) return 0;
  if (d == 0) {
    l->zero++;
    return 0;
  }
  __u32 s = bpfex_log2_ceil(d);
  if (s >= SLOTS) s = SLOTS - 1;
  l->slots[s]++;
  l->sum_ns += d;
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
