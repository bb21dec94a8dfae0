// Engine: the collection path. Once per tick, on its own thread: run the
// collectors (BPF readers, Lua rules, self-metrics), sweep series nobody wrote,
// render the variants scrapes asked for, publish the snapshot atomically.
//
// Freshness: /metrics is at most one tick old (tick_interval, 5 s by default,
// the aggregation interval seed 000 asks for). A scrape never waits for a tick.
//
// Thread safety: tick() and the collectors run on the engine thread only; the
// registry is theirs. requestStop() may be called from any thread.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "metrics/registry.h"
#include "metrics/snapshot.h"

namespace bpfex::engine {

struct EngineOptions {
  double tick_interval_seconds = 5.0;
  int gzip_level = 1;
};

// Where a tick's time goes (bpfex_tick_phase_seconds{phase} and
// bpfex_tick_phase_cpu_seconds_total{phase}, /health's last_tick, the status
// page, bench/e2e.py):
//   read      BPF map reads and per-CPU sums, whichever collector asked;
//   rules     Lua rules and bpf.export, less their reads;
//   collect   the other collectors (process, bpf, http, ...), less reads;
//   sweep     self-metrics, the sweep of unwritten series, tick observers;
//   render    the exposition formats scrapes asked for;
//   compress  their gzip.
enum class Phase : uint8_t { kRead, kRules, kCollect, kSweep, kRender, kCompress };
inline constexpr size_t kPhaseCount = 6;
inline constexpr const char* kPhaseNames[kPhaseCount] = {"read", "rules", "collect", "sweep", "render", "compress"};

// A collector writes into the registry. An error is logged and counted in
// bpfex_collector_errors_total{collector}; the tick goes on.
using Collector = std::function<base::Status(metrics::Registry&)>;

class Engine {
 public:
  Engine(metrics::Registry& registry, metrics::Publisher& publisher, EngineOptions opts);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // `phase`: where the collector's time is counted (its map reads go to read).
  void addCollector(std::string name, Collector c, Phase phase = Phase::kCollect);
  // Running totals (wall, CPU seconds) of map reads, whichever collector does
  // them: the read phase is taken out of the collectors' time.
  void setReadClock(std::function<std::pair<double, double>()> clock) { read_clock_ = std::move(clock); }
  // Called after each tick's collectors and sweep, with the registry as it is
  // about to be published (what a scrape of this tick will see).
  void addObserver(std::function<void(const metrics::Registry&)> fn) { observers_.push_back(std::move(fn)); }
  // Called with each tick's snapshot as it is published (not with the late
  // variants published between ticks): remote write's feed. On the engine
  // thread; it must not block.
  void addTickListener(std::function<void(const metrics::Snapshot&)> fn) { tick_listeners_.push_back(std::move(fn)); }
  // Each tick's snapshot also carries the protobuf exposition of the
  // families with native histograms (Snapshot::native_histograms).
  void renderNativeHistograms(bool on) { render_native_ = on; }

  // Runs fn on the engine thread before the next tick, and wakes the engine
  // so that happens now rather than at the next interval. Thread-safe.
  void post(std::function<void()> fn);

  // One full cycle. Public so tests and `bpfex check` can drive ticks by hand.
  void tick();
  // Ticks at the interval until the token asks to stop; the first tick is immediate.
  void run(std::stop_token stop);

  uint64_t ticks() const { return ticks_; }
  const EngineOptions& options() const { return opts_; }

 private:
  struct Entry {
    std::string name;
    Collector fn;
    Phase phase;
  };
  std::function<std::pair<double, double>()> read_clock_;
  // The last complete tick's phases (wall, CPU), and CPU totals since start.
  std::array<std::pair<double, double>, kPhaseCount> last_phases_{};
  std::array<double, kPhaseCount> phase_cpu_total_{};
  metrics::Family *phase_seconds_ = nullptr, *phase_cpu_ = nullptr;
  void updateSelfMetrics();
  void renderMissing();  // the variants scrapes wait for, added to the last snapshot

  void runPosted();

  std::mutex post_mu_;
  std::condition_variable_any post_cv_;
  std::vector<std::function<void()>> posted_;

  metrics::Registry& registry_;
  metrics::Publisher& publisher_;
  EngineOptions opts_;
  std::vector<Entry> collectors_;
  std::vector<std::function<void(const metrics::Registry&)>> observers_;
  std::vector<std::function<void(const metrics::Snapshot&)>> tick_listeners_;
  bool render_native_ = false;
  std::shared_ptr<const metrics::Snapshot> last_;
  uint64_t ticks_ = 0;
  double last_render_seconds_ = 0;
  double last_tick_seconds_ = 0;

  metrics::Family* tick_duration_ = nullptr;
  metrics::Family* render_duration_ = nullptr;
  metrics::Family* collector_errors_ = nullptr;
  metrics::Family* collector_duration_ = nullptr;
  metrics::Family* exposition_bytes_ = nullptr;
  metrics::Family* family_series_ = nullptr;
  metrics::Family* series_total_ = nullptr;
  metrics::Family* series_limit_ = nullptr;
  metrics::Family* series_dropped_ = nullptr;
  metrics::Family* ticks_total_ = nullptr;
};

}  // namespace bpfex::engine
