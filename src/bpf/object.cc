#include "bpf/object.h"

#include <algorithm>

#include <bpf/bpf.h>
#include <fcntl.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>

#include "base/log.h"
#include "bpf/bundled.h"
#include "bpf/layout.h"
#include "bpf/netns.h"
#include "bpf/trace_attach.h"

namespace bpfex::bpf {

using base::Error;
using base::Result;
using base::Status;

namespace {

// libbpf's messages (including the verifier log when a load fails) are kept
// in a bounded per-thread buffer so a load error can quote their tail.
thread_local std::string t_libbpf_log;

int libbpfPrint(enum libbpf_print_level level, const char* fmt, va_list ap) {
  char buf[4096];
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  if (n > 0) {
    t_libbpf_log.append(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
    if (t_libbpf_log.size() > (256u << 10)) t_libbpf_log.erase(0, t_libbpf_log.size() - (128u << 10));
  }
  if (level == LIBBPF_DEBUG) return 0;
  std::string line(buf, n > 0 ? std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1) : 0);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  BPFEX_LOG_DEBUG("libbpf: {}", line);
  return 0;
}

void installPrint() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpfPrint); });
}

std::string logTail(size_t lines) {
  const std::string& s = t_libbpf_log;
  size_t pos = s.size();
  for (size_t i = 0; i <= lines && pos != std::string::npos && pos > 0; ++i) pos = s.rfind('\n', pos - 1);
  return s.substr(pos == std::string::npos ? 0 : pos + 1);
}

// Stable per object+program, so a re-attach after a restart replaces our own
// previous TC filter instead of adding a second one.
uint32_t tcPriority(const std::string& object, const std::string& program) {
  uint32_t h = 2166136261u;
  for (char c : object + "/" + program) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return 1 + h % 0x7ff0;
}
constexpr uint32_t kTcHandle = 0xb9fe;

}  // namespace

bool isNetdevAttach(AttachType t) {
  return t == AttachType::kXdp || t == AttachType::kTcIngress || t == AttachType::kTcEgress;
}

bool AttachSpec::matchesName(const std::string& ifname) const {
  if (follow_target) return ifname == target;
  if (match.empty()) return false;
  // Compiled once per pattern (specs live as long as the runtime).
  static thread_local std::map<std::string, std::regex> cache;
  auto re = [&](const std::string& p) -> const std::regex& {
    auto it = cache.find(p);
    if (it == cache.end()) it = cache.emplace(p, std::regex(p, std::regex::ECMAScript)).first;
    return it->second;
  };
  return std::regex_match(ifname, re(match)) && (exclude.empty() || !std::regex_match(ifname, re(exclude)));
}

Result<AttachType> parseAttachType(const std::string& s) {
  static const std::pair<const char*, AttachType> kTypes[] = {
      {"xdp", AttachType::kXdp},           {"tc_ingress", AttachType::kTcIngress},
      {"tc_egress", AttachType::kTcEgress}, {"kprobe", AttachType::kKprobe},
      {"kretprobe", AttachType::kKretprobe}, {"fentry", AttachType::kFentry},
      {"fexit", AttachType::kFexit},       {"tracepoint", AttachType::kTracepoint},
      {"raw_tracepoint", AttachType::kRawTracepoint}, {"uprobe", AttachType::kUprobe},
      {"uretprobe", AttachType::kUretprobe}, {"auto", AttachType::kAuto},
      {"raw_tp", AttachType::kRawTracepoint}, {"tp_btf", AttachType::kTpBtf},
      {"usdt", AttachType::kUsdt},          {"perf_event", AttachType::kPerfEvent},
  };
  for (const auto& [n, t] : kTypes)
    if (s == n) return t;
  return Error::msg("attach type \"" + s +
                    "\" is not one of xdp, tc_ingress, tc_egress, kprobe, kretprobe, fentry, fexit, "
                    "tracepoint, raw_tracepoint (raw_tp), tp_btf, uprobe, uretprobe, usdt, perf_event, auto");
}

std::string_view attachTypeName(AttachType t) {
  switch (t) {
    case AttachType::kXdp: return "xdp";
    case AttachType::kTcIngress: return "tc_ingress";
    case AttachType::kTcEgress: return "tc_egress";
    case AttachType::kKprobe: return "kprobe";
    case AttachType::kKretprobe: return "kretprobe";
    case AttachType::kFentry: return "fentry";
    case AttachType::kFexit: return "fexit";
    case AttachType::kTracepoint: return "tracepoint";
    case AttachType::kRawTracepoint: return "raw_tracepoint";
    case AttachType::kUprobe: return "uprobe";
    case AttachType::kUretprobe: return "uretprobe";
    case AttachType::kAuto: return "auto";
    case AttachType::kTpBtf: return "tp_btf";
    case AttachType::kUsdt: return "usdt";
    case AttachType::kPerfEvent: return "perf_event";
  }
  return "auto";
}

struct BpfObject::Attachment {
  AttachSpec spec;
  bool dynamic = false;  // made for a pattern spec; `spec` holds the pattern's match
  bpf_link* link = nullptr;  // link-based types
  std::vector<bpf_link*> more_links;  // perf_event: one per online CPU after the first
  int ifindex = 0;           // xdp/tc
  uint32_t xdp_flags = 0;
  int prog_fd = -1;
  uint32_t tc_priority = 0;
  std::string pin;  // pinned link path (keep_attached)
  bool replaced_said = false;  // another program holds the hook: said once
  uint32_t prog_id = 0;        // the kernel's id of prog_fd, looked up once
};

BpfObject::BpfObject(ObjectSpec spec) : spec_(std::move(spec)) {}

namespace {

// Opens (does not load) the spec's bundled object or file.
Result<bpf_object*> openObject(const ObjectSpec& spec, const std::string& pin_root) {
  const std::string what = "BPF object " + spec.name;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = spec.name.c_str(),
              .pin_root_path = pin_root.empty() ? nullptr : pin_root.c_str());
  bpf_object* obj = nullptr;
  if (!spec.bundled.empty()) {
    auto img = bundledElf(spec.bundled);
    if (!img) return std::move(img).error().context(what);
    obj = bpf_object__open_mem(img->data, img->size, &opts);
  } else if (!spec.path.empty()) {
    obj = bpf_object__open_file(spec.path.c_str(), &opts);
  } else {
    return Error::msg(what + ": names neither a bundled object nor a file");
  }
  if (obj == nullptr) return Error::fromErrno(errno, "open " + what + (spec.path.empty() ? "" : " (" + spec.path + ")"));
  return obj;
}

}  // namespace

Result<std::unique_ptr<BpfObject>> BpfObject::load(const ObjectSpec& spec, const std::string& pin_root) {
  installPrint();
  registerPerfEventSection();
  t_libbpf_log.clear();
  std::unique_ptr<BpfObject> self(new BpfObject(spec));
  self->pin_root_ = pin_root;
  const std::string what = "BPF object " + spec.name;
  // Pinning needs bpffs, which a fresh machine may not have mounted: every
  // caller that pins gets it here, not only the daemon's runtime.
  if (!pin_root.empty())
    if (auto st = ensureBpffs(pin_root); !st) return std::move(st).error().context(what);
  auto obj = openObject(spec, pin_root);
  if (!obj) return std::move(obj).error();
  self->obj_ = obj.value();

  if (auto st = self->setGlobals(); !st) return std::move(st).error().context(what);
  if (pin_root.empty()) {
    // No pin root means no pinning: libbpf would otherwise pin
    // LIBBPF_PIN_BY_NAME maps under /sys/fs/bpf and reuse whatever is there.
    bpf_map* pm;
    bpf_object__for_each_map(pm, self->obj_) bpf_map__set_pin_path(pm, nullptr);
  }

  // ebpf_exporter's SEC("xdp/<interface>"), which libbpf does not know: an
  // XDP program (attach_all attaches it to that interface).
  bpf_program* xp = nullptr;
  bpf_object__for_each_program(xp, self->obj_) {
    if (std::string_view(bpf_program__section_name(xp)).starts_with("xdp/") &&
        bpf_program__type(xp) == BPF_PROG_TYPE_UNSPEC) {
      bpf_program__set_type(xp, BPF_PROG_TYPE_XDP);
      bpf_program__set_expected_attach_type(xp, BPF_XDP);
    }
  }
  for (const AttachSpec& a : spec.attach) {
    bpf_program* p = bpf_object__find_program_by_name(self->obj_, a.program.c_str());
    if (p == nullptr) return Error(ENOENT, what + ": no program named " + a.program);
    const bool btf_target = a.type == AttachType::kFentry || a.type == AttachType::kFexit || a.type == AttachType::kTpBtf;
    if (btf_target && !a.target.empty()) {
      if (int rc = bpf_program__set_attach_target(p, 0, a.target.c_str()); rc != 0)
        return Error::fromErrno(-rc, what + ": set " + std::string(attachTypeName(a.type)) + " target " + a.target);
    }
  }

  if (int rc = bpf_object__load(self->obj_); rc != 0) {
    std::string msg = what + ": load failed";
    const std::string tail = logTail(12);
    if (!tail.empty()) msg += "; libbpf/verifier log tail:\n" + tail;
    return Error::fromErrno(-rc, msg);
  }

  bpf_map* m;
  bpf_object__for_each_map(m, self->obj_) {
    if (bpf_map__is_internal(m)) continue;
    const int fd = bpf_map__fd(m);
    auto map = Map::fromFd(base::UniqueFd(fcntl(fd, F_DUPFD_CLOEXEC, 3)), spec.name + "/" + bpf_map__name(m));
    if (!map) return std::move(map).error();
    // Layouts from the object's own BTF: no CAP_SYS_ADMIN to fetch it back.
    if (bpf_map__btf_key_type_id(m) != 0 || bpf_map__btf_value_type_id(m) != 0)
      map->useBtf(bpf_object__btf(self->obj_), bpf_map__btf_key_type_id(m), bpf_map__btf_value_type_id(m));
    self->maps_.emplace(bpf_map__name(m), std::make_unique<Map>(std::move(map).value()));
  }

  if (auto st = self->initMaps(); !st) return std::move(st).error().context(what);
  // A program that cannot attach is reported, and the object stays: its
  // maps, its other programs, and what rules read from them.
  std::vector<AttachSpec> all;
  if (spec.attach_all && spec.attach.empty()) {
    bpf_program* p = nullptr;
    bpf_object__for_each_program(p, self->obj_) {
      const std::string_view sec = bpf_program__section_name(p);
      if (sec.starts_with("xdp/") && bpf_program__expected_attach_type(p) == BPF_XDP)
        all.push_back({.program = bpf_program__name(p), .type = AttachType::kXdp, .target = std::string(sec.substr(4))});
      else
        all.push_back({.program = bpf_program__name(p)});
    }
  }
  for (const AttachSpec& a : all.empty() ? spec.attach : all)
    if (!a.dynamic())  // pattern and followed specs: the runtime attaches as interfaces appear
      if (auto st = self->attach(a); !st) self->attach_errors_.push_back(std::move(st).error().context(what));
  return self;
}

Status BpfObject::setGlobals() {
  if (spec_.globals.empty()) return base::okStatus();
  bpf_map* rodata = nullptr;
  bpf_map* m;
  // The object's .rodata itself ("<obj>.rodata"), not a .rodata.str1.1 or
  // .rodata.cst16 the compiler made for string and array constants.
  bpf_object__for_each_map(m, obj_) {
    const std::string_view n = bpf_map__name(m);
    if (bpf_map__is_internal(m) && n.ends_with(".rodata")) rodata = m;
  }
  const struct btf* btf = bpf_object__btf(obj_);
  const int sec_id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
  if (rodata == nullptr || sec_id < 0) return Error::msg("has no const volatile globals to set");
  size_t size = 0;
  const auto* initial = static_cast<const uint8_t*>(bpf_map__initial_value(rodata, &size));
  std::vector<uint8_t> data(initial, initial + size);
  const struct btf_type* sec = btf__type_by_id(btf, static_cast<uint32_t>(sec_id));
  for (const auto& [name, value] : spec_.globals) {
    bool found = false;
    const struct btf_var_secinfo* vs = btf_var_secinfos(sec);
    for (uint16_t i = 0; i < btf_vlen(sec); ++i, ++vs) {
      const struct btf_type* var = btf__type_by_id(btf, vs->type);
      if (name != btf__name_by_offset(btf, var->name_off)) continue;
      // The variable's own type decides what its value may be (a number that
      // fits, an enumerator name, true/false for bool), as for map init.
      auto layout = Layout::fromBtf(btf, var->type, name);
      if (!layout) return std::move(layout).error().context("global " + name);
      auto bytes = layout->encode({{name, value}});
      if (!bytes) return std::move(bytes).error().context("const volatile global");
      if (vs->offset + vs->size > size || bytes->size() != vs->size) return Error::msg("global " + name + ": outside .rodata");
      std::memcpy(data.data() + vs->offset, bytes->data(), vs->size);
      found = true;
    }
    if (!found) return Error(ENOENT, "no const volatile global named " + name);
  }
  if (int rc = bpf_map__set_initial_value(rodata, data.data(), data.size()); rc != 0)
    return Error::fromErrno(-rc, "set const volatile globals");
  return base::okStatus();
}

namespace {

// The init entries of `init` encoded for its map in `obj`: key and value bytes.
Result<std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>>> encodeInit(bpf_object* obj, const MapInit& init) {
  const struct btf* btf = bpf_object__btf(obj);
  bpf_map* m = bpf_object__find_map_by_name(obj, init.map.c_str());
  if (m == nullptr || bpf_map__is_internal(m)) return Error(ENOENT, "init: no map named " + init.map);
  const auto type = bpf_map__type(m);
  if (type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_LRU_PERCPU_HASH)
    return Error::msg("init: map " + init.map + " is per-CPU; only shared maps can be initialised");
  if (btf == nullptr || bpf_map__btf_key_type_id(m) == 0 || bpf_map__btf_value_type_id(m) == 0)
    return Error::msg("init: map " + init.map + " has no BTF key and value types");
  auto kl = Layout::fromBtf(btf, bpf_map__btf_key_type_id(m), "key");
  if (!kl) return std::move(kl).error().context("init: map " + init.map + " key");
  auto vl = Layout::fromBtf(btf, bpf_map__btf_value_type_id(m), "value");
  if (!vl) return std::move(vl).error().context("init: map " + init.map + " value");
  std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> out;
  for (const MapInit::Entry& e : init.entries) {
    auto k = kl->encode(e.key);
    if (!k) return std::move(k).error().context(e.where + ".key");
    auto v = vl->encode(e.value);
    if (!v) return std::move(v).error().context(e.where + ".value");
    out.emplace_back(std::move(k).value(), std::move(v).value());
  }
  if (out.size() > bpf_map__max_entries(m))
    return Error::msg("init: " + std::to_string(out.size()) + " entries for map " + init.map + " of " +
                      std::to_string(bpf_map__max_entries(m)));
  return out;
}

}  // namespace

Status BpfObject::initMaps() {
  for (const MapInit& init : spec_.init) {
    auto entries = encodeInit(obj_, init);
    if (!entries) return std::move(entries).error();
    const int fd = bpf_map__fd(bpf_object__find_map_by_name(obj_, init.map.c_str()));
    for (size_t i = 0; i < entries->size(); ++i) {
      const auto& [k, v] = entries.value()[i];
      if (bpf_map_update_elem(fd, k.data(), v.data(), BPF_ANY) != 0)
        return Error::fromErrno(errno, init.entries[i].where + ": update " + init.map);
    }
  }
  return base::okStatus();
}

Status BpfObject::check(const ObjectSpec& spec, std::vector<CheckedMap>* maps) {
  installPrint();
  registerPerfEventSection();
  auto obj = openObject(spec, "");
  if (!obj) return std::move(obj).error();
  BpfObject shell(spec);  // closes the object; nothing is loaded or attached
  shell.obj_ = obj.value();
  if (auto st = shell.setGlobals(); !st) return std::move(st).error().context("BPF object " + spec.name);
  for (const MapInit& init : spec.init)
    if (auto entries = encodeInit(shell.obj_, init); !entries)
      return std::move(entries).error().context("BPF object " + spec.name);
  if (maps != nullptr) {
    const struct btf* btf = bpf_object__btf(shell.obj_);
    bpf_map* m = nullptr;
    bpf_object__for_each_map(m, shell.obj_) {
      if (bpf_map__is_internal(m)) continue;
      CheckedMap c{.name = bpf_map__name(m)};
      const auto type = bpf_map__type(m);
      c.events = type == BPF_MAP_TYPE_RINGBUF || type == BPF_MAP_TYPE_PERF_EVENT_ARRAY;
      if (btf != nullptr && bpf_map__btf_key_type_id(m) != 0 && bpf_map__btf_value_type_id(m) != 0) {
        auto k = Layout::fromBtf(btf, bpf_map__btf_key_type_id(m), "key");
        auto v = Layout::fromBtf(btf, bpf_map__btf_value_type_id(m), "value");
        if (k && v) {
          c.key = std::move(k).value();
          c.value = std::move(v).value();
        }
      }
      maps->push_back(std::move(c));
    }
  }
  return base::okStatus();
}

std::vector<AttachSpec> BpfObject::attached() const {
  std::vector<AttachSpec> v;
  for (const auto& a : attached_) v.push_back(a->spec);
  return v;
}

Status BpfObject::attach(const AttachSpec& a) {
  bpf_program* prog = bpf_object__find_program_by_name(obj_, a.program.c_str());
  auto att = std::make_unique<Attachment>();
  att->spec = a;
  att->prog_fd = bpf_program__fd(prog);
  const std::string where = std::string(attachTypeName(a.type)) + " program " + a.program +
                            (a.target.empty() ? "" : " to " + a.target) +
                            (a.netns.empty() ? "" : " in netns " + a.netns);

  if (a.type == AttachType::kXdp || a.type == AttachType::kTcIngress || a.type == AttachType::kTcEgress) {
    Status st = inNetns(a.netns, [&]() -> Status {
      att->ifindex = static_cast<int>(if_nametoindex(a.target.c_str()));
      if (att->ifindex == 0) return Error(ENODEV, "attach " + where + ": no interface " + a.target);
      if (a.type == AttachType::kXdp) {
        att->xdp_flags = a.xdp_mode == XdpMode::kGeneric ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
        int rc = bpf_xdp_attach(att->ifindex, att->prog_fd, att->xdp_flags, nullptr);
        if (rc != 0 && a.xdp_mode == XdpMode::kAuto) {
          // A driver without native XDP: generic mode runs the same program
          // after the stack's SKB allocation, slower but exact.
          const int native = rc;
          att->xdp_flags = XDP_FLAGS_SKB_MODE;
          rc = bpf_xdp_attach(att->ifindex, att->prog_fd, att->xdp_flags, nullptr);
          if (rc == 0)
            BPFEX_LOG_WARN("{}: attach {}: native mode refused ({}); attached in generic mode", spec_.name, where,
                           std::strerror(-native));
        }
        if (rc != 0) return Error::fromErrno(-rc, "attach " + where);
        return base::okStatus();
      }
      LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = att->ifindex,
                  .attach_point = a.type == AttachType::kTcIngress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
      if (int rc = bpf_tc_hook_create(&hook); rc != 0 && rc != -EEXIST)
        return Error::fromErrno(-rc, "create clsact qdisc for " + where);
      att->tc_priority = tcPriority(spec_.name, a.program);
      LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = att->prog_fd, .flags = BPF_TC_F_REPLACE,
                  .handle = kTcHandle, .priority = att->tc_priority);
      if (int rc = bpf_tc_attach(&hook, &opts); rc != 0) return Error::fromErrno(-rc, "attach " + where);
      return base::okStatus();
    });
    if (!st) return st;
    attached_.push_back(std::move(att));
    return base::okStatus();
  }

  // keep_attached: the link is pinned so it outlives bpfex; a pin left by the
  // previous run is removed first, which detaches that run's program, so the
  // two never count the same event twice.
  std::string link_pin;
  if (spec_.keep_attached && !pin_root_.empty()) {
    link_pin = pin_root_ + "/link_" + spec_.name + "_" + a.program;
    ::unlink(link_pin.c_str());
  }
  auto links = attachTracing(prog, a.type, a.target);
  if (!links) return std::move(links).error().context("attach " + where);
  if (links->empty()) return Error::msg("attach " + where + ": nothing to attach to (no online CPU)");
  bpf_link* link = links->front();
  att->more_links.assign(links->begin() + 1, links->end());
  att->link = link;
  if (!att->more_links.empty()) link_pin.clear();  // one link per CPU (perf_event): not kept past bpfex
  if (!link_pin.empty()) {
    if (bpf_link__pin(link, link_pin.c_str()) == 0) att->pin = link_pin;
    else BPFEX_LOG_WARN("{}: pin link {}: {}", spec_.name, link_pin, std::strerror(errno));
  }
  attached_.push_back(std::move(att));
  return base::okStatus();
}

Status BpfObject::attachInterface(const AttachSpec& pattern, const std::string& ifname) {
  AttachSpec a = pattern;
  a.target = ifname;
  if (auto st = attach(a); !st) return st;
  attached_.back()->dynamic = true;
  return base::okStatus();
}

bool BpfObject::attachedTo(const AttachSpec& pattern, int ifindex) const {
  for (const auto& a : attached_)
    if (a->dynamic && a->ifindex == ifindex && a->spec.netns == pattern.netns && a->spec.program == pattern.program &&
        a->spec.type == pattern.type)
      return true;
  return false;
}

size_t BpfObject::forgetInterface(const std::string& netns, int ifindex) {
  const size_t before = attached_.size();
  std::erase_if(attached_, [&](const std::unique_ptr<Attachment>& a) {
    return a->link == nullptr && a->ifindex == ifindex && a->spec.netns == netns;
  });
  return before - attached_.size();
}

std::vector<std::pair<std::string, int>> BpfObject::dynamicInterfaces() const {
  std::vector<std::pair<std::string, int>> out;
  for (const auto& a : attached_)
    if (a->dynamic) out.emplace_back(a->spec.netns, a->ifindex);
  return out;
}

size_t BpfObject::dynamicAttachments() const {
  return static_cast<size_t>(std::count_if(attached_.begin(), attached_.end(), [](const auto& a) { return a->dynamic; }));
}

void BpfObject::detachAll() {
  for (auto it = attached_.rbegin(); it != attached_.rend(); ++it) {
    Attachment& a = **it;
    const AttachSpec& s = a.spec;
    if (a.link != nullptr) {
      if (spec_.keep_attached && !a.pin.empty()) bpf_link__disconnect(a.link);
      bpf_link__destroy(a.link);
      for (bpf_link* l : a.more_links) bpf_link__destroy(l);
      continue;
    }
    if (spec_.keep_attached) continue;
    Status st = inNetns(s.netns, [&]() -> Status {
      if (s.type == AttachType::kXdp) {
        LIBBPF_OPTS(bpf_xdp_attach_opts, xo, .old_prog_fd = a.prog_fd);
        if (int rc = bpf_xdp_detach(a.ifindex, a.xdp_flags, &xo); rc != 0)
          return Error::fromErrno(-rc, "detach xdp from " + s.target);
      } else {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a.ifindex,
                    .attach_point = s.type == AttachType::kTcIngress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
        LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = a.tc_priority);
        // The clsact qdisc is left in place: other filters may share it.
        if (int rc = bpf_tc_detach(&hook, &opts); rc != 0)
          return Error::fromErrno(-rc, "detach tc from " + s.target);
      }
      return base::okStatus();
    });
    if (!st) BPFEX_LOG_WARN("{}: {}", spec_.name, st.error().message());
  }
  attached_.clear();
}

namespace {

uint32_t progId(int prog_fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  return bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0 ? info.id : 0;
}

}  // namespace

std::vector<BpfObject::AttachmentCheck> BpfObject::verifyAttachments() {
  std::vector<AttachmentCheck> out;
  std::map<std::string, std::vector<Attachment*>> by_netns;
  for (auto& a : attached_)
    if (a->link == nullptr && isNetdevAttach(a->spec.type)) by_netns[a->spec.netns].push_back(a.get());
  for (auto& [netns, list] : by_netns) {
    Status st = inNetns(netns, [&]() -> Status {
      for (Attachment* a : list) {
        const AttachSpec& s = a->spec;
        uint32_t holder = 0;
        int rc = 0;
        if (s.type == AttachType::kXdp) {
          rc = bpf_xdp_query_id(a->ifindex, static_cast<int>(a->xdp_flags), &holder);
        } else {
          LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex,
                      .attach_point = s.type == AttachType::kTcIngress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
          LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = a->tc_priority);
          rc = bpf_tc_query(&hook, &opts);
          holder = rc == 0 ? opts.prog_id : 0;
          // No such filter: EINVAL ("cannot find specified filter chain",
          // or no clsact qdisc), or ENOENT.
          if (rc == -ENOENT || rc == -EINVAL) rc = 0;
        }
        if (rc == -ENODEV) continue;  // the interface is going: the link watcher says so
        if (a->prog_id == 0) a->prog_id = progId(a->prog_fd);
        const uint32_t mine = a->prog_id;
        if (rc != 0 || holder == mine || mine == 0) continue;
        const std::string where = std::string(attachTypeName(s.type)) + " " + s.program + " on " + s.target +
                                  (s.netns.empty() ? "" : " (netns " + s.netns + ")");
        if (holder != 0) {  // another program holds the hook: reported, never fought over
          if (!a->replaced_said) out.push_back({where, "replaced", "program id " + std::to_string(holder) + " holds it"});
          a->replaced_said = true;
          continue;
        }
        a->replaced_said = false;
        // Detached by another tool (ip link set dev X xdp off, tc filter del): attached again.
        if (s.type == AttachType::kXdp) {
          rc = bpf_xdp_attach(a->ifindex, a->prog_fd, a->xdp_flags, nullptr);
        } else {
          LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex,
                      .attach_point = s.type == AttachType::kTcIngress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
          if (int c = bpf_tc_hook_create(&hook); c != 0 && c != -EEXIST) rc = c;
          else {
            LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = a->prog_fd, .flags = BPF_TC_F_REPLACE, .handle = kTcHandle,
                        .priority = a->tc_priority);
            rc = bpf_tc_attach(&hook, &opts);
          }
        }
        out.push_back({where, rc == 0 ? "reattached" : "reattach_failed", rc == 0 ? "" : std::strerror(-rc)});
      }
      return base::okStatus();
    });
    if (!st) out.push_back({"netns " + netns, "check_failed", st.error().message()});
  }
  return out;
}

BpfObject::~BpfObject() {
  detachAll();
  maps_.clear();
  if (obj_ != nullptr) bpf_object__close(obj_);
}

std::vector<std::pair<std::string, std::string>> BpfObject::attachments() const {
  std::vector<std::pair<std::string, std::string>> v;
  // Pattern specs once each, whatever they match now (the count is a metric
  // of its own, so this text does not change as interfaces come and go).
  for (const AttachSpec& a : spec_.attach)
    if (a.follow_target)
      v.emplace_back(a.program, std::string(attachTypeName(a.type)) + " " + a.target +
                                    (a.netns.empty() ? "" : " (netns " + a.netns + ")") + " whenever it is there");
    else if (a.dynamic())
      v.emplace_back(a.program, std::string(attachTypeName(a.type)) + " on interfaces matching /" + a.match + "/" +
                                    (a.exclude.empty() ? "" : " except /" + a.exclude + "/") +
                                    (a.netns.empty() ? "" : " (netns " + a.netns + ")"));
  for (const auto& a : attached_) {
    if (a->dynamic) continue;
    std::string where = std::string(attachTypeName(a->spec.type));
    if (!a->spec.target.empty()) where += " " + a->spec.target;
    if (!a->spec.netns.empty()) where += " (netns " + a->spec.netns + ")";
    v.emplace_back(a->spec.program, where);
  }
  return v;
}

std::vector<BpfObject::InterfaceAttachment> BpfObject::interfaceAttachments() const {
  std::vector<InterfaceAttachment> v;
  for (const auto& a : attached_) {
    if (!isNetdevAttach(a->spec.type)) continue;
    std::string mode;
    if (a->spec.type == AttachType::kXdp) mode = a->xdp_flags == XDP_FLAGS_SKB_MODE ? "generic" : "native";
    v.push_back({a->spec.program, std::string(attachTypeName(a->spec.type)), a->spec.target, a->spec.netns, mode});
  }
  return v;
}

bool BpfObject::followedAttached(const AttachSpec& spec) const {
  for (const auto& a : attached_)
    if (a->dynamic && a->spec.program == spec.program && a->spec.type == spec.type && a->spec.netns == spec.netns &&
        a->spec.target == spec.target)
      return true;
  return false;
}

Result<std::vector<ProgramStats>> BpfObject::programStats() const {
  std::vector<ProgramStats> out;
  bpf_program* p;
  bpf_object__for_each_program(p, obj_) {
    const int fd = bpf_program__fd(p);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
      return Error::fromErrno(errno, "get info of program " + std::string(bpf_program__name(p)));
    ProgramStats s;
    s.name = bpf_program__name(p);
    const char* tn = libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(info.type));
    s.type = tn ? tn : "unknown";
    static const char* kHex = "0123456789abcdef";
    for (uint8_t b : info.tag) {
      s.tag += kHex[b >> 4];
      s.tag += kHex[b & 15];
    }
    s.id = info.id;
    s.run_count = info.run_cnt;
    s.run_time_ns = info.run_time_ns;
    out.push_back(std::move(s));
  }
  return out;
}

Status ensureBpffs(const std::string& root) {
  namespace fs = std::filesystem;
  struct statfs st{};
  if (statfs("/sys/fs/bpf", &st) != 0 || st.f_type != BPF_FS_MAGIC) {
    ::mkdir("/sys/fs/bpf", 0700);
    if (mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) != 0)
      return Error::fromErrno(errno, "mount bpffs at /sys/fs/bpf");
    BPFEX_LOG_INFO("mounted bpffs at /sys/fs/bpf");
  }
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Error::fromErrno(ec.value(), "create pin directory " + root);
  if (statfs(root.c_str(), &st) != 0 || st.f_type != BPF_FS_MAGIC)
    return Error::msg("pin directory " + root + " is not on a bpf filesystem");
  return base::okStatus();
}

Result<StatsGuard> StatsGuard::enable() {
  const int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) return Error::fromErrno(errno, "enable BPF run-time stats (BPF_ENABLE_STATS)");
  return StatsGuard(fd);
}

StatsGuard::~StatsGuard() {
  if (fd_ >= 0) ::close(fd_);
}

bool globalBpfStatsEnabled() {
  std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
  int v = 0;
  return (in >> v) && v != 0;
}

}  // namespace bpfex::bpf
