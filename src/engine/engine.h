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

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

#include "base/result.h"
#include "metrics/registry.h"
#include "metrics/snapshot.h"

namespace bpfex::engine {

struct EngineOptions {
  double tick_interval_seconds = 5.0;
  int gzip_level = 1;
};

// A collector writes into the registry. An error is logged and counted in
// bpfex_collector_errors_total{collector}; the tick goes on.
using Collector = std::function<base::Status(metrics::Registry&)>;

class Engine {
 public:
  Engine(metrics::Registry& registry, metrics::Publisher& publisher, EngineOptions opts);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void addCollector(std::string name, Collector c);
  // Called after each tick's collectors and sweep, with the registry as it is
  // about to be published (what a scrape of this tick will see).
  void addObserver(std::function<void(const metrics::Registry&)> fn) { observers_.push_back(std::move(fn)); }

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
  };
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
