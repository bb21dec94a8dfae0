// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* A program in cloudflare/ebpf_exporter's conventions, written here for
 * tests/privileged/ebpf_exporter_test.py: maps named after the metrics in
 * witness.yaml, u64 values, histogram keys ending in a bucket index (the
 * sum at bucket_max + 1). No globals (ebpf_exporter sets none): it counts
 * what processes named bpfex-witness do, and attaches where its SEC()s say
 * (the test puts the witness at /run/bpfex-ee-test/bpfex-witness). Maps are
 * pinned by name, so the test can dump each with bpftool:
 *   witness_syscalls_total      raw_tp sys_enter, by syscall number
 *   witness_calls_total         the comm and an operation (1: getppid) in a
 *                               padded struct key, through the USDT probe
 *   witness_syscalls_total again as witness_getpids_total (a regexp folds
 *                               getpid and getppid into one label value)
 *   witness_probe_cpu_total     the probe's firings per CPU (a per-CPU array)
 *   witness_cgroup_total        the probe's firings by cgroup (v2 id)
 *   witness_lo_udp_total        UDP datagrams to port 9999 on lo (SEC("xdp/lo"))
 *   witness_kaddr_total         the probe's firings by the address kaddrs gave
 *                               (decoded back to its name by ksym)
 *   witness_step_exp2 / _exp2zero / _linear / _fixed
 *                               the USDT probe bpfex_witness:step's argument i
 *                               in each bucket type ebpf_exporter has */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>


#define COUNTER(name, key_t, entries)         \
  struct {                                    \
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);   \
    __uint(max_entries, entries);             \
    __type(key, key_t);                       \
    __type(value, __u64);                     \
    __uint(pinning, LIBBPF_PIN_BY_NAME);      \
  } name SEC(".maps")

struct call_key {
  char comm[16];
  __u8 op;      /* 1 byte, 7 of padding before the next u64 */
  __u64 magic;  /* hex-decoded */
};

struct hist_key {
  __u64 bucket;
};

COUNTER(witness_syscalls_total, __u64, 1024);
COUNTER(witness_getpids_total, __u64, 1024);
COUNTER(witness_cgroup_total, __u64, 64);
COUNTER(witness_kaddr_total, __u64, 4);
COUNTER(witness_lo_udp_total, __u16, 4);

/* kaddrs in witness.yaml: the address of a kernel function, set at load. */
const volatile __u64 kaddr_jiffies_to_msecs = 0;
COUNTER(witness_calls_total, struct call_key, 64);
COUNTER(witness_step_exp2, struct hist_key, 64);
COUNTER(witness_step_exp2zero, struct hist_key, 64);
COUNTER(witness_step_linear, struct hist_key, 64);
COUNTER(witness_step_fixed, struct hist_key, 64);

/* One entry (key 0), per CPU: served per CPU through the config's last label "cpu". */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} witness_probe_cpu_total SEC(".maps");

static __always_inline int mine(void) {
  static const char want[16] = "bpfex-witness";
  char comm[16] = {};
  bpf_get_current_comm(comm, sizeof comm);
  for (int i = 0; i < 16; i++)
    if (comm[i] != want[i]) return 0;
  return 1;
}

static __always_inline void inc(void *map, const void *key, __u64 by) {
  __u64 *v = bpf_map_lookup_elem(map, key);
  if (v) {
    *v += by;
    return;
  }
  bpf_map_update_elem(map, key, &by, BPF_NOEXIST);
}

SEC("raw_tp/sys_enter")
int count_syscalls(struct bpf_raw_tracepoint_args *ctx) {
  if (!mine()) return 0;
  __u64 id = ctx->args[1];
  inc(&witness_syscalls_total, &id, 1);
  inc(&witness_getpids_total, &id, 1);
  return 0;
}

/* floor(log2(v)) + 1 for v > 0: the exp2 slot whose upper bound 2^k holds v. */
static __always_inline __u64 log2_ceil(__u64 v) {
  __u64 k = 0;
  for (int i = 0; i < 64; i++) {
    if ((1ULL << k) >= v) break;
    k++;
  }
  return k;
}

static __always_inline void observe(void *map, __u64 bucket, __u64 max, __u64 v) {
  struct hist_key k = {.bucket = bucket > max ? max : bucket};
  inc(map, &k, 1);
  k.bucket = max + 1; /* the sum */
  inc(map, &k, v);
}

SEC("usdt//run/bpfex-ee-test/bpfex-witness:bpfex_witness:step")
int BPF_USDT(on_step, long i) {
  if (!mine()) return 0;
  __u64 addr = kaddr_jiffies_to_msecs;
  inc(&witness_kaddr_total, &addr, 1);
  __u64 cg = bpf_get_current_cgroup_id();
  inc(&witness_cgroup_total, &cg, 1);
  __u32 zero = 0;
  __u64 *per_cpu = bpf_map_lookup_elem(&witness_probe_cpu_total, &zero);
  if (per_cpu) (*per_cpu)++;
  struct call_key ck = {.op = 1, .magic = 0xc0ffee};
  bpf_get_current_comm(ck.comm, sizeof ck.comm);
  inc(&witness_calls_total, &ck, 1);
  __u64 v = (__u64)i;
  observe(&witness_step_exp2, log2_ceil(v), 12, v);              /* le 2^k */
  observe(&witness_step_exp2zero, v == 0 ? 0 : log2_ceil(v) + 1, 13, v);
  observe(&witness_step_linear, (v + 99) / 100, 12, v);          /* le 100k */
  __u64 f = v <= 10 ? 10 : v <= 100 ? 100 : v <= 500 ? 500 : 1000;
  struct hist_key fk = {.bucket = f};
  inc(&witness_step_fixed, &fk, 1);
  fk.bucket = 1001; /* the last key + 1: the sum */
  inc(&witness_step_fixed, &fk, v);
  return 0;
}

/* ebpf_exporter's SEC("xdp/<interface>"): UDP datagrams to port 9999 on lo. */
SEC("xdp/lo")
int count_lo_udp(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  __u8 *p = data;
  if (data + 14 + 20 + 8 > end) return XDP_PASS;
  if (p[12] != 0x08 || p[13] != 0x00) return XDP_PASS;  /* IPv4 */
  if ((p[14] & 0x0f) != 5 || p[14 + 9] != 17) return XDP_PASS; /* no options, UDP */
  __u16 port = (__u16)((p[14 + 20 + 2] << 8) | p[14 + 20 + 3]);
  if (port != 9999) return XDP_PASS;
  inc(&witness_lo_udp_total, &port, 1);
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
