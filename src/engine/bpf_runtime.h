// BpfRuntime: the BPF side of the daemon. Loads the configured objects,
// opens foreign maps, and gives everything a name rules can use:
// "<object>/<map>" for our maps, the configured alias for foreign ones.
// Each map is read at most once per tick (MapReader), and that read is shared
// by every rule and by the self-metrics.
//
// Failures never stop the daemon: an object that fails to load or attach, a
// foreign map that cannot be opened or disappears, a read that fails: each is
// logged with the object named, counted in bpfex_bpf_errors_total{operation,
// object}, and the rest keeps serving.
//
// Thread safety: engine thread only.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "bpf/event_reader.h"
#include "bpf/layout.h"
#include "bpf/link_watcher.h"
#include "bpf/map.h"
#include "bpf/map_reader.h"
#include "bpf/object.h"
#include "engine/ebpf_exporter.h"
#include "engine/engine.h"
#include "metrics/registry.h"

namespace bpfex::engine {

struct ForeignMapSpec {
  std::string name;         // alias rules use
  std::string pinned;       // one of: a pin path,
  uint32_t id = 0;          //         a map id,
  std::string kernel_name;  //         or the kernel's map name
  std::string key_layout;   // declarations for maps without BTF (Layout::fromDeclaration)
  std::string value_layout;
};

struct BpfConfig {
  std::string pin_path = "/sys/fs/bpf/bpfex";
  // A group whose members (the services' own users) may map the counter
  // regions pinned under pin_path: the directory becomes searchable by the
  // group (0710) and each region's pin readable and writable by it (0660).
  // Other pins stay bpfex's alone (0600). Empty: nothing changes.
  std::string pin_group;
  bool stats = false;  // BPF_ENABLE_STATS while running (costs ~66 ns per program run)
  std::vector<bpf::ObjectSpec> objects;
  std::vector<ForeignMapSpec> maps;
  // bpf.ebpf_exporter: ebpf_exporter's configurations (their objects are in
  // `objects` too, attach_all), served with this prefix.
  std::vector<EbpfExporterConfig> ebpf_exporter;
  std::string ebpf_exporter_prefix = "ebpf_exporter_";
  bool empty() const { return objects.empty() && maps.empty(); }
};

class BpfRuntime {
 public:
  struct MapEntry {
    std::string name;
    std::string object;  // "" for foreign maps
    const bpf::Map* map = nullptr;
    std::unique_ptr<bpf::Map> owned;  // foreign maps
    ForeignMapSpec foreign;           // how to reopen it
    std::unique_ptr<bpf::MapReader> reader;       // maps with entries
    std::unique_ptr<bpf::EventReader> events;     // ring buffers, perf event arrays
    std::optional<bpf::Layout> key_layout, value_layout;
    uint64_t read_tick = 0;
    double last_name_check = 0;  // kernel_name maps: when the name was last resolved
    double read_seconds = 0;
    bool ok = true;
  };

  BpfRuntime() = default;
  ~BpfRuntime() { stop(); }
  BpfRuntime(const BpfRuntime&) = delete;
  BpfRuntime& operator=(const BpfRuntime&) = delete;
  // Loads objects and opens maps; per-item failures are recorded, not fatal.
  void start(const BpfConfig& cfg);
  // Ends stats, detaches what is not kept, closes maps.
  void stop();

  MapEntry* findMap(const std::string& name);
  // Whether the configuration names this object (loaded or not).
  bool objectConfigured(const std::string& name) const;
  // Counts a failure without logging it (the caller says it once).
  void countError(const std::string& operation, const std::string& object) { ++errors_[{operation, object}]; }
  const std::vector<std::unique_ptr<MapEntry>>& maps() const { return maps_; }
  const std::vector<std::unique_ptr<bpf::BpfObject>>& objects() const { return objects_; }
  // Each object's program stats, fetched at most once per tick (the runtime's
  // own metrics and bpf.programs() share them); `stats` empty and `error` set
  // when the kernel could not be asked.
  struct ObjectPrograms {
    const bpf::BpfObject* object;
    std::vector<bpf::ProgramStats> stats;
    std::string error;
  };
  const std::vector<ObjectPrograms>& programs(uint64_t tick);
  // Reads the map unless it was already read in this tick.
  base::Result<const bpf::MapReader*> read(MapEntry& m, uint64_t tick);
  // Running totals of the time map reads took (wall and engine-thread CPU
  // seconds), per-CPU summing included: the engine's "read" phase.
  std::pair<double, double> readTotals() const { return read_totals_; }
  void addReadTime(double wall, double cpu) {
    read_totals_.first += wall;
    read_totals_.second += cpu;
  }
  // Drains an event map unless it was already drained in this tick.
  base::Result<const bpf::EventReader*> events(MapEntry& m, uint64_t tick);
  base::Result<const bpf::Layout*> keyLayout(MapEntry& m);
  base::Result<const bpf::Layout*> valueLayout(MapEntry& m);

  // The collector of bpfex_bpf_* self-metrics (maps, programs, errors).
  base::Result<Collector> makeCollector(metrics::Registry& r, const Engine& engine);

  // Interfaces for pattern attach specs (AttachSpec::dynamic), followed
  // through rtnetlink: a thread waits on the namespaces' notification sockets
  // and hands each batch to `post` (the engine's), whose function attaches to
  // new matching interfaces and forgets gone ones on the engine thread. Gone
  // interfaces' entries leave the object's maps keyed by a field `ifindex`.
  void watchLinks(std::function<void(std::function<void()>)> post);
  // Applies what the kernel reported (engine thread). Public for tests.
  void drainLinks();
  struct LinkStats {
    uint64_t attaches = 0, detaches = 0, forgotten_entries = 0, reattaches = 0, replaced = 0;
  };
  const std::map<std::string, LinkStats>& linkStats() const { return link_stats_; }  // by object
  static constexpr size_t kMaxAttachmentsPerObject = 4096;  // program x interface

  void recordError(const std::string& operation, const std::string& object, const std::string& message);
  const std::map<std::pair<std::string, std::string>, uint64_t>& errors() const { return errors_; }
  bool statsActive() const { return stats_.has_value(); }

 private:
  base::Status openForeign(MapEntry& e);
  void makeReader(MapEntry& e);
  base::Result<const bpf::Layout*> layout(MapEntry& m, bool key);
  void refreshForeign(MapEntry& e);
  template <class Reader, class Fetch>
  base::Result<const Reader*> oncePerTick(MapEntry& m, uint64_t tick, const std::unique_ptr<Reader>& reader,
                                          const char* kind, const char* use, Fetch fetch);

  void startLinkWatchers();
  void shareRegions();
  void applyLinks(const std::string& netns, const std::vector<bpf::LinkEvent>& events, bool complete);
  void forgetEntries(const bpf::BpfObject& o, int ifindex);

  struct Watch {
    bpf::LinkWatcher watcher;
  };
  std::vector<Watch> watches_;
  std::map<std::string, LinkStats> link_stats_;
  static constexpr double kVerifyEverySeconds = 2;
  double last_verify_ = 0;  // monotonic: when attachments were last verified
  std::thread link_thread_;
  base::UniqueFd link_stop_;  // eventfd: wakes the thread to stop
  std::mutex link_mu_;
  std::condition_variable link_cv_;
  bool link_pending_ = false;  // a drain is posted and not yet run
  bool link_stopping_ = false;

  BpfConfig cfg_;
  std::vector<std::unique_ptr<bpf::BpfObject>> objects_;
  std::vector<ObjectPrograms> programs_;
  uint64_t programs_tick_ = 0;
  std::vector<std::unique_ptr<MapEntry>> maps_;
  std::optional<bpf::StatsGuard> stats_;
  std::map<std::pair<std::string, std::string>, uint64_t> errors_;
  std::pair<double, double> read_totals_{0, 0};
};

}  // namespace bpfex::engine
