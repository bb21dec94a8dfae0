// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Test-only objects: programs of every tracing attach type, each counting what
 * one account (target_uid, set at load) does, so tests/privileged/
 * trace_test.py can compare every count with the process's own.
 *
 * Built once per group (-DGROUP_KPROBE, ...), one object each, so a type the
 * kernel lacks fails alone; every object shares the pinned `probes` map.
 * Each SEC() names its target, so bpftool can load the same object (the
 * test's reference for what this kernel allows); the configuration may name
 * another.
 *
 * The witness process (trace_witness.c) calls getppid() N times, its own
 * bpfex_witness_step(i) N times and fires its USDT probe bpfex_witness:step
 * N times; so each of these counts exactly N:
 *   kprobe, kretprobe      the kernel's __x64_sys_getppid
 *   fentry, fexit          __do_sys_getppid (its name in BTF)
 *   tracepoint             syscalls:sys_enter_getppid
 *   raw_tp, tp_btf         sys_enter, getppid's syscall number
 *   uprobe, uretprobe      the witness's own function
 *   uprobe_lib, uretprobe_lib   libc's getppid
 *   usdt                   bpfex_witness:step, argument i
 * and `sum` too: fexit and uretprobe_lib add the returned ppid, uretprobe
 * adds 2i+1, usdt its argument i. perf_page_faults counts the account's page
 * faults (period 1); perf_clock, every CPU's cpu-clock at 100 Hz, in
 * ebpf_exporter's SEC() form. */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#ifdef GROUP_USDT
#include <stdbool.h> /* usdt.bpf.h uses bool */
#include <bpf/usdt.bpf.h>
#endif

#include <asm/unistd.h>
#define NR_GETPPID __NR_getppid

enum trace_probe {
  kprobe, kretprobe, fentry, fexit, tracepoint, raw_tp, tp_btf,
  uprobe, uretprobe, uprobe_lib, uretprobe_lib, usdt,
  perf_page_faults, perf_clock, trace_probe_count,
};

struct probe_key {
  enum trace_probe probe;
};

struct probe_value {
  __u64 hits;
  __u64 sum;
};

/* A hash: an array's key must be a plain integer in BTF, and the key's enum
 * is what names each probe (label values by enumerator name). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, trace_probe_count);
  __type(key, struct probe_key);
  __type(value, struct probe_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} probes SEC(".maps");

const volatile __u32 target_uid = 0;

static __always_inline int mine(void) {
  return (__u32)bpf_get_current_uid_gid() == target_uid;
}

static __always_inline void hit(enum trace_probe p, __u64 v) {
  struct probe_key k = {.probe = p};
  struct probe_value *val = bpf_map_lookup_elem(&probes, &k);
  if (!val) {
    struct probe_value zero = {};
    bpf_map_update_elem(&probes, &k, &zero, BPF_NOEXIST);
    val = bpf_map_lookup_elem(&probes, &k);
    if (!val) return;
  }
  val->hits++;
  val->sum += v;
}

#ifdef GROUP_KPROBE
SEC("kprobe/__x64_sys_getppid")
int on_kprobe(void *ctx) { if (mine()) hit(kprobe, 0); return 0; }

SEC("kretprobe/__x64_sys_getppid")
int on_kretprobe(void *ctx) { if (mine()) hit(kretprobe, 0); return 0; }
#endif


#ifdef GROUP_FENTRY
SEC("fentry/__do_sys_getppid")
int on_fentry(unsigned long long *ctx) { if (mine()) hit(fentry, 0); return 0; }

/* __do_sys_getppid(const struct pt_regs *): ctx[0] the argument, ctx[1] the result. */
SEC("fexit/__do_sys_getppid")
int on_fexit(unsigned long long *ctx) { if (mine()) hit(fexit, ctx[1]); return 0; }
#endif


#ifdef GROUP_TRACEPOINT
SEC("tracepoint/syscalls/sys_enter_getppid")
int on_tracepoint(void *ctx) { if (mine()) hit(tracepoint, 0); return 0; }
#endif


#ifdef GROUP_RAW_TP
SEC("raw_tp/sys_enter")
int on_raw_tp(struct bpf_raw_tracepoint_args *ctx) {
  if (mine() && ctx->args[1] == NR_GETPPID) hit(raw_tp, 0);
  return 0;
}
#endif


#ifdef GROUP_TP_BTF
/* sys_enter(struct pt_regs *regs, long id) */
SEC("tp_btf/sys_enter")
int on_tp_btf(unsigned long long *ctx) {
  if (mine() && ctx[1] == NR_GETPPID) hit(tp_btf, 0);
  return 0;
}
#endif


#ifdef GROUP_UPROBE
SEC("uprobe")
int on_uprobe(struct pt_regs *ctx) { if (mine()) hit(uprobe, 0); return 0; }

SEC("uretprobe")
int on_uretprobe(struct pt_regs *ctx) { if (mine()) hit(uretprobe, (__u32)PT_REGS_RC(ctx)); return 0; }

SEC("uprobe")
int on_uprobe_lib(struct pt_regs *ctx) { if (mine()) hit(uprobe_lib, 0); return 0; }

SEC("uretprobe")
int on_uretprobe_lib(struct pt_regs *ctx) { if (mine()) hit(uretprobe_lib, (__u32)PT_REGS_RC(ctx)); return 0; }
#endif


#ifdef GROUP_USDT
SEC("usdt")
int BPF_USDT(on_usdt, long i) {
  if (mine()) hit(usdt, (__u64)i);
  return 0;
}
#endif


#ifdef GROUP_PERF
SEC("perf_event")
int on_page_fault(void *ctx) { if (mine()) hit(perf_page_faults, 0); return 0; }

/* ebpf_exporter's section form: attached by `type: auto`. */
SEC("perf_event/type=1,config=0,frequency=100")
int on_cpu_clock(void *ctx) { hit(perf_clock, 0); return 0; }
#endif


char LICENSE[] SEC("license") = "GPL";
