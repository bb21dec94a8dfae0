#include "engine/bpf_runtime.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <grp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "base/clock.h"
#include "base/log.h"
#include "bpf/link_watcher.h"
#include "metrics/reserved.h"

namespace bpfex::engine {

using base::Error;
using base::Result;
using base::Status;
using metrics::MetricType;

void BpfRuntime::recordError(const std::string& operation, const std::string& object, const std::string& message) {
  ++errors_[{operation, object}];
  BPFEX_LOG_ERROR("bpf {} {}: {}", operation, object, message);
}

void BpfRuntime::start(const BpfConfig& cfg) {
  cfg_ = cfg;
  if (cfg_.empty()) return;
  if (bpf::globalBpfStatsEnabled())
    BPFEX_LOG_WARN("kernel.bpf_stats_enabled is 1: every BPF program run pays ~66 ns for it; "
                   "set it to 0 and use bpf.stats in bpfex's config to count only while bpfex runs");
  if (cfg_.stats) {
    auto g = bpf::StatsGuard::enable();
    if (g) stats_.emplace(std::move(g).value());
    else recordError("stats", "kernel", g.error().message());
  }
  if (!cfg_.objects.empty()) {
    if (auto st = bpf::ensureBpffs(cfg_.pin_path); !st) {
      recordError("pin", cfg_.pin_path, st.error().message());
      cfg_.pin_path.clear();  // load unpinned rather than not at all
    }
  }
  // An interface named by `interface:` is followed as a one-name pattern:
  // absent at start, or gone and back, it is attached whenever it is there,
  // and the object's maps never depend on it.
  for (auto& spec : cfg_.objects)
    for (auto& a : spec.attach)
      if (bpf::isNetdevAttach(a.type) && !a.dynamic()) a.follow_target = true;
  for (const auto& spec : cfg_.objects) {
    auto obj = bpf::BpfObject::load(spec, cfg_.pin_path);
    if (!obj) {
      recordError("load", spec.name, obj.error().message());
      continue;
    }
    for (const base::Error& e : obj.value()->attachErrors()) recordError("attach", spec.name, e.message());
    for (const auto& [prog, where] : obj.value()->attachments())
      BPFEX_LOG_INFO("bpf {}: {} attached at {}", spec.name, prog, where);
    for (const auto& [mname, m] : obj.value()->maps()) {
      auto e = std::make_unique<MapEntry>();
      e->name = spec.name + "/" + mname;
      e->object = spec.name;
      e->map = m.get();
      makeReader(*e);
      maps_.push_back(std::move(e));
    }
    objects_.push_back(std::move(obj).value());
  }
  if (!cfg_.pin_group.empty() && !cfg_.pin_path.empty()) shareRegions();
  for (const auto& fm : cfg_.maps) {
    auto e = std::make_unique<MapEntry>();
    e->name = fm.name;
    e->foreign = fm;
    if (auto st = openForeign(*e); !st) {
      recordError("open_map", fm.name, st.error().message());
      e->ok = false;
    }
    maps_.push_back(std::move(e));
  }
  startLinkWatchers();
}

// Regions a service can own: the counter regions (mmapable arrays, the only
// maps applications write) are opened to pin_group's members; the directory
// only to be searched, so nothing else there is listed or opened by them.
void BpfRuntime::shareRegions() {
  const struct group* g = ::getgrnam(cfg_.pin_group.c_str());
  char* end = nullptr;
  const long num = std::strtol(cfg_.pin_group.c_str(), &end, 10);
  const gid_t gid = g != nullptr ? g->gr_gid : (end != cfg_.pin_group.c_str() && *end == '\0') ? static_cast<gid_t>(num)
                                                                                          : static_cast<gid_t>(-1);
  if (gid == static_cast<gid_t>(-1)) {
    recordError("pin", cfg_.pin_path, "bpf.pin_group: no group " + cfg_.pin_group);
    return;
  }
  auto share = [&](const std::string& path, mode_t mode) {
    if (::chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0 || ::chmod(path.c_str(), mode) != 0)
      recordError("pin", path, std::string("give it to group ") + cfg_.pin_group + ": " + std::strerror(errno) +
                                   " (bpfex's user must be a member of the group)");
  };
  share(cfg_.pin_path, 0710);
  for (const auto& o : objects_)
    for (const auto& [name, m] : o->maps())
      if ((m->info().map_flags & BPF_F_MMAPABLE) != 0 && ::access((cfg_.pin_path + "/" + name).c_str(), F_OK) == 0)
        share(cfg_.pin_path + "/" + name, 0660);
}

// ---- interfaces for pattern attach specs ------------------------------------


void BpfRuntime::startLinkWatchers() {
  std::set<std::string> namespaces;
  for (const auto& o : objects_)
    for (const auto& a : o->spec().attach)
      if (a.dynamic()) namespaces.insert(a.netns);
  for (const auto& ns : namespaces) {
    auto w = bpf::LinkWatcher::open(ns);
    if (!w) {
      recordError("watch_links", ns.empty() ? "(host)" : ns, w.error().message());
      continue;
    }
    const auto initial = w.value().initial();
    watches_.push_back({std::move(w).value()});
    applyLinks(ns, initial, true);
  }
  // Said once, at start: what waits for its interface.
  for (const auto& o : objects_)
    for (const auto& a : o->spec().attach)
      if (a.follow_target && !o->followedAttached(a))
        BPFEX_LOG_WARN("bpf {}: {} {}: interface {}{} is not there now; attached when it appears{}", o->spec().name,
                       bpf::attachTypeName(a.type), a.program, a.target, a.netns.empty() ? "" : " (netns " + a.netns + ")",
                       a.where.empty() ? "" : " (" + a.where + ")");
}

void BpfRuntime::applyLinks(const std::string& netns, const std::vector<bpf::LinkEvent>& events, bool complete) {
  auto gone = [&](int ifindex) {
    for (auto& o : objects_) {
      const size_t n = o->forgetInterface(netns, ifindex);  // one per program attached there
      if (n == 0) continue;
      link_stats_[o->spec().name].detaches += n;
      forgetEntries(*o, ifindex);
      BPFEX_LOG_DEBUG("bpf {}: interface {} is gone", o->spec().name, ifindex);
    }
  };
  std::set<int> present;
  for (const auto& ev : events) {
    if (ev.kind == bpf::LinkEvent::Kind::kGone) {
      gone(ev.ifindex);
      continue;
    }
    present.insert(ev.ifindex);
    for (auto& o : objects_)
      for (const auto& a : o->spec().attach) {
        if (!a.dynamic() || a.netns != netns || ev.name.empty() || !a.matchesName(ev.name) ||
            o->attachedTo(a, ev.ifindex))
          continue;
        if (o->dynamicAttachments() >= kMaxAttachmentsPerObject) {
          recordError("attach", o->spec().name,
                      ev.name + ": over " + std::to_string(kMaxAttachmentsPerObject) + " attachments; not attached");
          continue;
        }
        if (auto st = o->attachInterface(a, ev.name); !st) {
          // The interface may have gone already (a pod's veth is short-lived).
          recordError("attach", o->spec().name, st.error().message());
          continue;
        }
        ++link_stats_[o->spec().name].attaches;
        BPFEX_LOG_DEBUG("bpf {}: {} attached to {}", o->spec().name, a.program, ev.name);
      }
  }
  if (complete)  // a full list: what is attached and not in it is gone
    for (auto& o : objects_)
      for (const auto& [ns, ifindex] : o->dynamicInterfaces())
        if (ns == netns && !present.count(ifindex)) gone(ifindex);
}

void BpfRuntime::forgetEntries(const bpf::BpfObject& o, int ifindex) {
  for (auto& m : maps_) {
    if (m->object != o.spec().name || m->map == nullptr || m->events) continue;
    auto kl = keyLayout(*m);
    if (!kl) continue;
    const bpf::Field* f = kl.value()->find("ifindex");
    if (f == nullptr || !f->isNumeric() || f->count != 1) continue;
    const int fd = m->map->fd();
    std::vector<uint8_t> key(kl.value()->size()), next(kl.value()->size());
    std::vector<std::vector<uint8_t>> doomed;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      if (bpf::readUnsigned(*f, next.data()) == static_cast<uint64_t>(ifindex)) doomed.push_back(next);
      key = next;
      prev = key.data();
    }
    for (const auto& k : doomed)
      if (bpf_map_delete_elem(fd, k.data()) == 0) ++link_stats_[o.spec().name].forgotten_entries;
  }
}

void BpfRuntime::drainLinks() {
  for (auto& w : watches_) {
    bool resynced = false;
    auto events = w.watcher.drain(&resynced);
    if (!events) {
      recordError("watch_links", w.watcher.netns().empty() ? "(host)" : w.watcher.netns(), events.error().message());
      continue;
    }
    if (resynced) BPFEX_LOG_WARN("bpf: link notifications overflowed; listed the interfaces again");
    applyLinks(w.watcher.netns(), events.value(), resynced);
  }
}

void BpfRuntime::watchLinks(std::function<void(std::function<void()>)> post) {
  if (watches_.empty() || link_thread_.joinable()) return;
  link_stop_.reset(::eventfd(0, EFD_CLOEXEC));
  if (!link_stop_.valid()) {
    recordError("watch_links", "(host)", std::string("eventfd: ") + std::strerror(errno));
    return;
  }
  link_stopping_ = false;
  std::vector<pollfd> fds;
  for (const auto& w : watches_) fds.push_back({w.watcher.fd(), POLLIN, 0});
  fds.push_back({link_stop_.get(), POLLIN, 0});
  // Waits for the kernel's notifications, never on a timer; each batch is
  // applied on the engine thread, and the next wait starts after it.
  link_thread_ = std::thread([this, post = std::move(post), fds]() mutable {
    for (;;) {
      for (auto& p : fds) p.revents = 0;
      if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
      if (fds.back().revents != 0) return;
      {
        std::lock_guard lock(link_mu_);
        link_pending_ = true;
      }
      post([this] {
        drainLinks();
        std::lock_guard lock(link_mu_);
        link_pending_ = false;
        link_cv_.notify_all();
      });
      std::unique_lock lock(link_mu_);
      link_cv_.wait(lock, [this] { return !link_pending_ || link_stopping_; });
      if (link_stopping_) return;
    }
  });
}

Status BpfRuntime::openForeign(MapEntry& e) {
  const ForeignMapSpec& fm = e.foreign;
  Result<bpf::Map> m = !fm.pinned.empty() ? bpf::Map::openPinned(fm.pinned)
                       : fm.id != 0       ? bpf::Map::openById(fm.id)
                                          : bpf::Map::openByName(fm.kernel_name);
  if (!m) return std::move(m).error();
  e.reader.reset();
  e.key_layout.reset();
  e.value_layout.reset();
  e.owned = std::make_unique<bpf::Map>(std::move(m).value());
  e.map = e.owned.get();
  makeReader(e);
  e.ok = true;
  return base::okStatus();
}

void BpfRuntime::makeReader(MapEntry& e) {
  e.reader.reset();
  e.events.reset();
  const uint32_t type = e.map->info().type;
  if (type == BPF_MAP_TYPE_RINGBUF || type == BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
    auto r = bpf::EventReader::open(*e.map);
    if (r) e.events = std::move(r).value();
    else recordError("open_map", e.name, r.error().message());
  } else {
    e.reader = std::make_unique<bpf::MapReader>(*e.map);
  }
}

// A pinned or named foreign map may be removed or recreated by its owner.
// Our fd would keep a removed map alive, so each tick checks that the name
// still leads to the same map: gone is reported (its series stop), a new map
// under the name is opened.
void BpfRuntime::refreshForeign(MapEntry& e) {
  if (e.object.empty() && e.foreign.id == 0) {
    uint32_t now_id = 0;
    if (!e.foreign.pinned.empty()) {
      const int fd = bpf_obj_get(e.foreign.pinned.c_str());
      if (fd >= 0) {
        bpf_map_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) now_id = info.id;
        ::close(fd);
      }
    } else {
      // Resolving a name enumerates every map in the kernel: at most every
      // 10 s, not on every read.
      const double now = base::monotonicSeconds();
      if (e.ok && e.map != nullptr && now - e.last_name_check < 10) return;
      e.last_name_check = now;
      auto m = bpf::Map::openByName(e.foreign.kernel_name);
      if (m) now_id = m->info().id;
    }
    if (now_id == 0) {
      if (e.ok) recordError("open_map", e.name, "map went away (its pin or name no longer exists)");
      e.ok = false;
      e.map = nullptr;
      e.reader.reset();
      e.events.reset();
      e.owned.reset();
      return;
    }
    if (!e.ok || e.map == nullptr || e.map->info().id != now_id) {
      if (auto st = openForeign(e); !st) recordError("open_map", e.name, st.error().message());
      else BPFEX_LOG_INFO("bpf map {}: (re)opened, id {}", e.name, now_id);
    }
  }
}

BpfRuntime::MapEntry* BpfRuntime::findMap(const std::string& name) {
  for (auto& m : maps_)
    if (m->name == name) return m.get();
  return nullptr;
}

// Reads or drains `m` through `reader` at most once per tick, timing it; a
// failure is recorded once and the reader stays as it was.
template <class Reader, class Fetch>
Result<const Reader*> BpfRuntime::oncePerTick(MapEntry& m, uint64_t tick, const std::unique_ptr<Reader>& reader,
                                               const char* kind, const char* use, Fetch fetch) {
  if (m.read_tick == tick && reader) return reader.get();
  if (m.object.empty()) refreshForeign(m);
  if (!m.ok || !reader) return Error(ENOENT, std::string(kind) + m.name + " is not available" + use);
  const base::Stopwatch sw;
  auto n = fetch(*reader);
  m.read_seconds = sw.wall();
  addReadTime(m.read_seconds, sw.cpu());
  m.read_tick = tick;
  if (!n) {
    recordError("read_map", m.name, n.error().message());
    return std::move(n).error();
  }
  return reader.get();
}

bool BpfRuntime::objectConfigured(const std::string& name) const {
  for (const auto& spec : cfg_.objects)
    if (spec.name == name) return true;
  return false;
}

Result<const bpf::MapReader*> BpfRuntime::read(MapEntry& m, uint64_t tick) {
  return oncePerTick(m, tick, m.reader, "map ", " for entry reads", [](bpf::MapReader& r) { return r.read(); });
}

Result<const bpf::EventReader*> BpfRuntime::events(MapEntry& m, uint64_t tick) {
  return oncePerTick(m, tick, m.events, "event map ", "", [](bpf::EventReader& r) { return r.poll(); });
}

const std::vector<BpfRuntime::ObjectPrograms>& BpfRuntime::programs(uint64_t tick) {
  if (programs_tick_ == tick && tick != 0) return programs_;
  programs_.clear();
  for (const auto& o : objects_) {
    auto ps = o->programStats();
    if (ps) programs_.push_back({o.get(), std::move(ps).value(), {}});
    else programs_.push_back({o.get(), {}, ps.error().message()});
  }
  programs_tick_ = tick;
  return programs_;
}

Result<const bpf::Layout*> BpfRuntime::layout(MapEntry& m, bool key) {
  std::optional<bpf::Layout>& slot = key ? m.key_layout : m.value_layout;
  if (!slot) {
    if (m.map == nullptr) return Error(ENOENT, "map " + m.name + " is not available");
    const std::string& decl = key ? m.foreign.key_layout : m.foreign.value_layout;
    auto l = !decl.empty() ? bpf::Layout::fromDeclaration(decl) : key ? m.map->keyLayout() : m.map->valueLayout();
    if (!l) return std::move(l).error();
    slot = std::move(l).value();
  }
  return &*slot;
}

Result<const bpf::Layout*> BpfRuntime::keyLayout(MapEntry& m) { return layout(m, true); }
Result<const bpf::Layout*> BpfRuntime::valueLayout(MapEntry& m) { return layout(m, false); }

void BpfRuntime::stop() {
  if (link_thread_.joinable()) {
    {
      std::lock_guard lock(link_mu_);
      link_stopping_ = true;
    }
    link_cv_.notify_all();
    const uint64_t one = 1;
    (void)!::write(link_stop_.get(), &one, sizeof one);
    link_thread_.join();
  }
  watches_.clear();
  maps_.clear();
  programs_.clear();
  programs_tick_ = 0;
  objects_.clear();  // detaches (unless kept)
  stats_.reset();
}

Result<Collector> BpfRuntime::makeCollector(metrics::Registry& r, const Engine& engine) {
  struct Fams {
    metrics::Family *entries, *max_entries, *usage, *read_seconds, *info, *runs, *run_time, *errors, *ev, *ev_lost;
    metrics::Family *ifaces, *iface_changes, *attachment, *waiting;
  } f{};
  const std::pair<metrics::Family**, metrics::FamilyOptions> defs[] = {
      {&f.entries, {.name = "bpfex_bpf_map_entries", .help = "Entries in the BPF map at its last read.",
                    .label_names = {"map", "type"}, .expire_unwritten = true}},
      {&f.max_entries, {.name = "bpfex_bpf_map_max_entries", .help = "The BPF map's max_entries.",
                        .label_names = {"map", "type"}, .expire_unwritten = true}},
      {&f.usage, {.name = "bpfex_bpf_map_usage_ratio", .help = "Entries over max_entries (hash-like maps).",
                  .label_names = {"map"}, .expire_unwritten = true}},
      {&f.read_seconds, {.name = "bpfex_bpf_map_read_duration_seconds", .help = "Time the last full read of the map took.",
                         .unit = "seconds", .label_names = {"map"}, .expire_unwritten = true}},
      {&f.info, {.name = "bpfex_bpf_program_info", .help = "A loaded BPF program; always 1.", .type = MetricType::kInfo,
                 .label_names = {"object", "program", "type", "tag", "id", "attached"}, .expire_unwritten = true}},
      {&f.runs, {.name = "bpfex_bpf_program_run_count_total", .help = "Runs of the BPF program (needs bpf.stats or kernel.bpf_stats_enabled).",
                 .type = MetricType::kCounter, .label_names = {"object", "program"}, .expire_unwritten = true}},
      {&f.run_time, {.name = "bpfex_bpf_program_run_time_seconds_total", .help = "Time spent in the BPF program (needs bpf.stats or kernel.bpf_stats_enabled).",
                     .unit = "seconds", .type = MetricType::kCounter, .label_names = {"object", "program"}, .expire_unwritten = true}},
      {&f.ev, {.name = "bpfex_bpf_events_total", .help = "Events drained from the ring buffer or perf event array.",
               .type = MetricType::kCounter, .label_names = {"map"}, .expire_unwritten = true}},
      {&f.ev_lost, {.name = "bpfex_bpf_events_lost_total", .help = "Events lost: dropped by the kernel (perf) or over bpfex's per-tick bound.",
                    .type = MetricType::kCounter, .label_names = {"map"}, .expire_unwritten = true}},
      {&f.ifaces, {.name = "bpfex_bpf_interface_attachments",
                   .help = "Programs attached to interfaces by the object's interface and pattern attach specs now, one per program and "
                           "interface (TC ingress and egress on one interface: 2).",
                   .label_names = {"object"}}},
      {&f.iface_changes, {.name = "bpfex_bpf_interface_changes_total",
                          .help = "Interfaces attached (they appeared and matched), detached (they went), map "
                                  "entries forgotten with them (keyed by ifindex), programs attached again after "
                                  "another tool detached them (reattach), and hooks another program took (replaced), "
                                  "by object.",
                          .type = MetricType::kCounter, .label_names = {"object", "change"}}},
      {&f.attachment, {.name = "bpfex_bpf_attachment_info",
                       .help = "A program attached to an interface now, with the XDP mode in force (native, or "
                               "generic where the driver refused native); always 1.",
                       .type = MetricType::kInfo, .label_names = {"object", "program", "type", "interface", "netns", "mode"},
                       .expire_unwritten = true}},
      {&f.waiting, {.name = "bpfex_bpf_attachment_waiting",
                    .help = "1 while the interface a program is configured for is not there (it is attached when it "
                            "appears), else 0.",
                    .label_names = {"object", "program", "type", "interface", "netns"}, .expire_unwritten = true}},
      {&f.errors, {.name = "bpfex_bpf_errors_total", .help = "BPF failures by operation (load, attach, pin, open_map, read_map, stats) and object.",
                   .type = MetricType::kCounter, .label_names = {"operation", "object"}}},
  };
  for (const auto& [slot, opts] : defs) *slot = metrics::selfFamily(r, opts);
  return Collector([this, f, &engine](metrics::Registry&) -> Status {
    const uint64_t tick = engine.ticks() + 1;  // the tick being collected
    for (auto& m : maps_) {
      if (m->events || (m->map != nullptr && !m->reader)) {
        auto ev = events(*m, tick);
        if (!ev) continue;
        (void)f.ev->set({m->name}, static_cast<double>(ev.value()->total()));
        (void)f.ev_lost->set({m->name}, static_cast<double>(ev.value()->lost()));
        (void)f.read_seconds->set({m->name}, m->read_seconds);
        continue;
      }
      auto rd = read(*m, tick);
      if (!rd) continue;
      const bpf::MapInfo& mi = m->map->info();
      const std::string type(bpf::mapTypeName(mi.type));
      (void)f.entries->set({m->name, type}, static_cast<double>(rd.value()->count()));
      (void)f.max_entries->set({m->name, type}, mi.max_entries);
      if (mi.max_entries > 0)
        (void)f.usage->set({m->name}, static_cast<double>(rd.value()->count()) / mi.max_entries);
      (void)f.read_seconds->set({m->name}, m->read_seconds);
    }
    const bool counting = stats_.has_value() || bpf::globalBpfStatsEnabled();
    for (const ObjectPrograms& op : programs(tick)) {
      const bpf::BpfObject* o = op.object;
      if (!op.error.empty()) {
        recordError("stats", o->spec().name, op.error);
        continue;
      }
      const auto att = o->attachments();
      for (const auto& p : op.stats) {
        std::string where;
        for (const auto& [prog, w] : att)
          if (prog == p.name) where += (where.empty() ? "" : "; ") + w;
        (void)f.info->setInfo({o->spec().name, p.name, p.type, p.tag, std::to_string(p.id), where});
        if (counting) {
          (void)f.runs->set({o->spec().name, p.name}, static_cast<double>(p.run_count));
          (void)f.run_time->set({o->spec().name, p.name}, static_cast<double>(p.run_time_ns) / 1e9);
        }
      }
    }
    const double now = base::monotonicSeconds();
    const bool verify_due = now - last_verify_ >= kVerifyEverySeconds;
    if (verify_due) last_verify_ = now;
    for (const auto& o : objects_) {
      const std::string& name = o->spec().name;
      // Every few seconds (a few syscalls per attachment): what another tool
      // detached is attached again.
      std::vector<bpf::BpfObject::AttachmentCheck> checks;
      if (verify_due) checks = o->verifyAttachments();
      for (const auto& c : checks) {
        LinkStats& ls = link_stats_[name];
        if (c.outcome == "reattached") {
          ++ls.reattaches;
          BPFEX_LOG_WARN("bpf {}: {} was detached by something else; attached again", name, c.where);
        } else if (c.outcome == "replaced") {
          ++ls.replaced;
          BPFEX_LOG_WARN("bpf {}: {}: another program took the hook ({}); left alone, not counting there", name,
                         c.where, c.detail);
        } else {
          recordError("attach", name, c.where + ": " + c.outcome + ": " + c.detail);
        }
      }
      for (const auto& a : o->interfaceAttachments())
        (void)f.attachment->setInfo({name, a.program, a.type, a.interface, a.netns, a.mode});
      for (const auto& a : o->spec().attach)
        if (a.follow_target)
          (void)f.waiting->set({name, a.program, std::string(bpf::attachTypeName(a.type)), a.target, a.netns},
                               o->followedAttached(a) ? 0 : 1);
    }
    for (const auto& o : objects_) {
      bool dynamic = false;
      for (const auto& a : o->spec().attach) dynamic = dynamic || a.dynamic();
      if (!dynamic) continue;
      const std::string& name = o->spec().name;
      const LinkStats& ls = link_stats_[name];
      (void)f.ifaces->set({name}, static_cast<double>(o->dynamicAttachments()));
      (void)f.iface_changes->set({name, "attach"}, static_cast<double>(ls.attaches));
      (void)f.iface_changes->set({name, "detach"}, static_cast<double>(ls.detaches));
      (void)f.iface_changes->set({name, "forget_entry"}, static_cast<double>(ls.forgotten_entries));
      (void)f.iface_changes->set({name, "reattach"}, static_cast<double>(ls.reattaches));
      (void)f.iface_changes->set({name, "replaced"}, static_cast<double>(ls.replaced));
    }
    for (const auto& [key, n] : errors_) (void)f.errors->set({key.first, key.second}, static_cast<double>(n));
    return base::okStatus();
  });
}

}  // namespace bpfex::engine
