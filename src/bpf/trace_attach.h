// Tracing attachments: what a target string means for each tracing attach
// type (checked when the configuration is read, so `bpfex check` names the
// line), and the parts libbpf leaves to its caller:
// - perf events, opened on every online CPU, one link each;
// - tracefs, which classic tracepoints need and a fresh host may not mount;
// - shared libraries named without a path ("libc.so.6"), found where the
//   dynamic linker would find them on Debian (multiarch directories).
//
// Targets, by attach type:
//   kprobe, kretprobe, raw_tracepoint        kernel function / tracepoint name
//   fentry, fexit, tp_btf                    same; optional (the SEC() may name it)
//   tracepoint                               category:name
//   uprobe, uretprobe                        BINARY:function (BINARY a path or a library's name)
//   usdt                                     BINARY:provider:name
//   perf_event                               type=T,config=C,frequency=F | period=P
//     T: hardware, software, hw_cache, raw or a number; C: a number, or for
//     software cpu-clock, task-clock, page-faults, context-switches,
//     cpu-migrations, minor-faults, major-faults; for hardware cpu-cycles,
//     instructions, cache-references, cache-misses, branch-instructions,
//     branch-misses, bus-cycles, ref-cycles. This is also what follows
//     "perf_event/" in a program's SEC(), as cloudflare's ebpf_exporter
//     writes it (SEC("perf_event/type=1,config=0,frequency=99")).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

struct bpf_program;
struct bpf_link;

namespace bpfex::bpf {

enum class AttachType : uint8_t;

struct PerfEventSpec {
  uint32_t type = 0;
  uint64_t config = 0;
  uint64_t frequency = 0;  // samples per second per CPU, or
  uint64_t period = 0;     // one sample every `period` events
};
base::Result<PerfEventSpec> parsePerfEvent(std::string_view spec);

struct UprobeTarget {
  std::string binary, function;  // uprobe
  std::string provider, name;    // usdt (function empty)
};
// Splits a uprobe (BINARY:function) or USDT (BINARY:provider:name) target.
base::Result<UprobeTarget> parseUprobeTarget(const std::string& target, bool usdt);

// The target's syntax for its attach type; nothing on the host is looked at.
base::Status checkTarget(AttachType type, const std::string& target);

// A binary named by path is used as it is; a library's bare name
// ("libc.so.6") is looked for in LD_LIBRARY_PATH, then the multiarch and
// classic library directories. The error names where it looked.
base::Result<std::string> resolveBinary(const std::string& name);

// Classic tracepoints are found through tracefs (events/<cat>/<name>/id).
// If neither /sys/kernel/tracing nor /sys/kernel/debug/tracing has it, it is
// mounted at /sys/kernel/tracing (needs CAP_SYS_ADMIN); otherwise the error
// says what to do, and that tp_btf and raw_tracepoint need no tracefs.
base::Status ensureTracefs();

// Attaches a tracing program (any type but xdp and tc) as `type` and
// `target` say; `auto` follows the program's SEC(), including ebpf_exporter's
// "perf_event/..." form. One link, or one per online CPU for perf_event. The
// error names the target and, where errno alone would mislead, what the
// host lacks (no kprobes in this kernel, tracefs only root may read).
base::Result<std::vector<bpf_link*>> attachTracing(bpf_program* prog, AttachType type, const std::string& target);

// Opens the perf event on every online CPU (all processes) and attaches the
// program to each. On error nothing stays attached.
base::Result<std::vector<bpf_link*>> attachPerfEvent(bpf_program* prog, const PerfEventSpec& spec);

// Teaches libbpf the "perf_event/..." section form, so such programs open as
// perf_event programs (libbpf knows only a bare "perf_event"). Idempotent.
void registerPerfEventSection();

// /sys/devices/system/cpu/online, as a list.
base::Result<std::vector<int>> onlineCpus();

}  // namespace bpfex::bpf
