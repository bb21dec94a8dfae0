// BpfObject: one BPF object (a bundled program or an operator's .bpf.o)
// opened, configured, loaded and attached as its spec says, and detached when
// destroyed unless the spec keeps it attached.
//
// - Load-time settings are the object's `const volatile` globals, set by name
//   before load (the .rodata section's BTF gives their offsets and sizes).
// - Maps declared with LIBBPF_PIN_BY_NAME are pinned under `pin_root` and
//   reused on the next load, so counters survive a restart of bpfex.
// - Attach types: xdp (native or generic mode), tc_ingress, tc_egress,
//   kprobe, kretprobe, fentry, fexit, tracepoint, raw_tracepoint, tp_btf,
//   uprobe, uretprobe, usdt, perf_event, and auto (what the program's SEC()
//   says, including ebpf_exporter's "perf_event/type=..,config=.."). XDP and
//   TC may name a network namespace. Tracing targets: bpf/trace_attach.h.
//
// Thread safety: load and destroy on one thread; maps() may be read by others.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "bpf/map.h"

struct bpf_object;
struct bpf_link;

namespace bpfex::bpf {

enum class AttachType : uint8_t {
  kXdp, kTcIngress, kTcEgress, kKprobe, kKretprobe, kFentry, kFexit,
  kTracepoint, kRawTracepoint, kUprobe, kUretprobe, kAuto,
  kTpBtf, kUsdt, kPerfEvent,
};
base::Result<AttachType> parseAttachType(const std::string& s);
// XDP's mode: auto tries native (driver) mode first and falls back to
// generic (SKB) mode where the driver has no XDP; native and generic pin it.
enum class XdpMode : uint8_t { kAuto, kNative, kGeneric };
std::string_view attachTypeName(AttachType t);

struct AttachSpec {
  std::string program;   // the program's function name in the object
  AttachType type = AttachType::kAuto;
  // xdp/tc: interface; the tracing types' forms are in bpf/trace_attach.h
  // (kprobe: a kernel function; uprobe: "BINARY:function"; usdt:
  // "BINARY:provider:name"; perf_event: "type=software,config=cpu-clock,frequency=99").
  std::string target;
  std::string netns;         // xdp/tc only: a named network namespace
  XdpMode xdp_mode = XdpMode::kAuto;
  // xdp/tc only, instead of `target`: every interface whose name matches
  // `match` (a whole-name ECMAScript regex) and not `exclude`, including
  // those that appear later (followed by the runtime through rtnetlink).
  std::string match, exclude;
  // xdp/tc with a fixed `target`, as the runtime loads it: the interface is
  // followed like a one-name pattern, so one that is absent at start (a
  // VPN's TUN, created by its server later) or that goes and comes back is
  // attached whenever it is there, and the object and its maps stay loaded.
  bool follow_target = false;
  bool dynamic() const { return !match.empty() || follow_target; }
  // Whether an interface of this name is one this spec attaches to.
  bool matchesName(const std::string& ifname) const;
  std::string where;  // the config's file:line, for messages ("" when not from a file)
};
bool isNetdevAttach(AttachType t);

// Entries written into one of the object's maps after load, before attach
// (e.g. a policy the data path needs from its first packet). Fields by name,
// as Layout::encode takes them; `where` names the entry for errors.
struct MapInit {
  std::string map;
  struct Entry {
    std::vector<std::pair<std::string, std::string>> key, value;
    std::string where;
  };
  std::vector<Entry> entries;
};

struct ObjectSpec {
  std::string name;     // how rules and metrics refer to it
  std::string bundled;  // a bundled program's name, or
  std::string path;     // an operator's .bpf.o file
  std::map<std::string, std::string> globals;  // const volatile name -> value (decimal or 0x hex)
  std::vector<AttachSpec> attach;
  std::vector<MapInit> init;
  bool keep_attached = false;
  // No `attach` list: every program attached as its SEC() says (libbpf's
  // auto-attach, as ebpf_exporter does), each failure reported alone.
  bool attach_all = false;
};

struct ProgramStats {
  std::string name;
  std::string type;
  std::string tag;
  uint32_t id = 0;
  uint64_t run_count = 0;
  uint64_t run_time_ns = 0;
};

class BpfObject {
 public:
  // Opens, configures, loads and attaches. Errors name the object, program,
  // map or interface, and include the tail of the verifier log on rejection.
  // An empty pin_root loads without pinning anything.
  static base::Result<std::unique_ptr<BpfObject>> load(const ObjectSpec& spec, const std::string& pin_root);
  // Opens the object without loading it (no privileges needed), sets its
  // globals and encodes its init entries against the BTF: what `bpfex check`
  // can say about a spec before any kernel sees it.
  // With `maps`, also what rules would see of its maps: name, and key and
  // value layouts from the object's BTF (bpfex check runs rules against them).
  struct CheckedMap {
    std::string name;  // the map's own name (rules: "<object>/<name>")
    bool events = false;  // a ring buffer or perf event array
    std::optional<Layout> key, value;  // absent without BTF
  };
  static base::Status check(const ObjectSpec& spec, std::vector<CheckedMap>* maps = nullptr);
  ~BpfObject();
  BpfObject(const BpfObject&) = delete;
  BpfObject& operator=(const BpfObject&) = delete;

  const ObjectSpec& spec() const { return spec_; }
  // The object's maps (except its internal .rodata/.bss/.data), by name.
  const std::map<std::string, std::unique_ptr<Map>>& maps() const { return maps_; }
  base::Result<std::vector<ProgramStats>> programStats() const;
  // Where each program is attached, for display ("xdp bpfex0 (netns a)").
  std::vector<std::pair<std::string, std::string>> attachments() const;
  // What is attached now, as configured.
  std::vector<AttachSpec> attached() const;
  // Every interface attachment now, with the XDP mode in force ("native",
  // "generic"; "" for tc): for bpfex_bpf_attachment_info and the status page.
  struct InterfaceAttachment {
    std::string program, type, interface, netns, mode;
  };
  std::vector<InterfaceAttachment> interfaceAttachments() const;
  // Attachments that failed at load (a missing kernel function, a binary
  // without the symbol): the object and its maps stay loaded without them.
  const std::vector<base::Error>& attachErrors() const { return attach_errors_; }
  // A follow_target spec is attached now.
  bool followedAttached(const AttachSpec& spec) const;
  // Checks that each XDP and TC attachment is still in place: one that
  // another tool removed (ip link set dev X xdp off, tc filter del) is
  // attached again ("reattached", or "reattach_failed"); one whose hook
  // another program now holds is reported once ("replaced") and left alone.
  struct AttachmentCheck {
    std::string where, outcome, detail;
  };
  std::vector<AttachmentCheck> verifyAttachments();

  // Interfaces matched by a dynamic spec (AttachSpec::dynamic): attaches the
  // spec's program to `ifname` (now in the spec's namespace).
  base::Status attachInterface(const AttachSpec& pattern, const std::string& ifname);
  // Whether the pattern's program is attached to this interface.
  bool attachedTo(const AttachSpec& pattern, int ifindex) const;
  // The interface is gone (the kernel dropped its qdisc, filters and XDP
  // program with it): forgets what was attached there. Returns how many.
  size_t forgetInterface(const std::string& netns, int ifindex);
  // The interfaces dynamic specs are attached to now: (netns, ifindex), one
  // per program attached there; and how many that is.
  std::vector<std::pair<std::string, int>> dynamicInterfaces() const;
  size_t dynamicAttachments() const;

 private:
  struct Attachment;
  explicit BpfObject(ObjectSpec spec);  // out of line: Attachment is complete only there
  base::Status setGlobals();
  base::Status initMaps();
  base::Status attach(const AttachSpec& a);
  void detachAll();

  ObjectSpec spec_;
  std::string pin_root_;
  bpf_object* obj_ = nullptr;
  std::vector<std::unique_ptr<Attachment>> attached_;
  std::vector<base::Error> attach_errors_;
  std::map<std::string, std::unique_ptr<Map>> maps_;
};

// Mounts bpffs at `root`'s filesystem if `root` is not already on one, and
// creates `root`. An error names the path.
base::Status ensureBpffs(const std::string& root);


// kernel.bpf_stats_enabled: on costs ~66 ns per program run on the measured
// kernel (baselines.md), so bpfex enables stats only when configured, through
// an fd-scoped BPF_ENABLE_STATS that ends when the fd closes.
class StatsGuard {
 public:
  static base::Result<StatsGuard> enable();
  bool active() const { return fd_ >= 0; }
  StatsGuard(StatsGuard&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ~StatsGuard();
 private:
  explicit StatsGuard(int fd) : fd_(fd) {}
  int fd_ = -1;
};
// Reads /proc/sys/kernel/bpf_stats_enabled (true when globally on).
bool globalBpfStatsEnabled();

}  // namespace bpfex::bpf
