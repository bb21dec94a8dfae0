// Snapshot and Publisher: the hand-over between the engine thread, which
// renders once per tick, and the HTTP threads, which only copy bytes.
//
// A Snapshot is immutable once published and shared by reference count, so a
// slow scrape keeps its bytes alive while the engine publishes newer ones.
// Which variants (format x encoding) get rendered follows demand: a variant
// asked for within the demand window is rendered every tick, and text 0.0.4
// plain always is (the answer any client can take: curl, promtool, a human).
// The first scrape of a variant not yet rendered asks the engine thread to
// render it from the registry as the last tick left it (Publisher::
// awaitVariant); the snapshot it publishes shares every body already
// rendered. So nobody pays for gzip or OpenMetrics that nobody reads, the
// first scrape gets the format it asked for, and a scrape never renders.
//
// Thread safety: Publisher is thread-safe. Snapshot is immutable after build.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "metrics/buffer.h"
#include "metrics/family.h"
#include "metrics/registry.h"

namespace bpfex::metrics {

// What building a snapshot cost the calling thread: rendering (text, OpenMetrics,
// protobuf) and gzip, each in wall and CPU seconds. Added to, not reset.
struct RenderCost {
  double render_wall = 0, render_cpu = 0, compress_wall = 0, compress_cpu = 0;
};

// The phases of one collection tick, as the engine measured them: wall and
// engine-thread CPU seconds each (see engine.h for the phases).
struct TickStats {
  double seconds = 0;  // the whole tick, wall
  std::vector<std::pair<std::string, std::pair<double, double>>> phases;  // name -> {wall, cpu}
};

struct Variant {
  Format format;
  bool gzip;
};

// Which variants a tick should render: wanted[format][gzip].
using VariantSet = std::array<std::array<bool, 2>, kFormatCount>;

class Snapshot {
 public:
  // The rendered body for this variant, or nullptr if it was not rendered.
  const Buffer* body(Format f, bool gzip) const { return bodies_[static_cast<size_t>(f)][gzip ? 1 : 0].get(); }
  // The same body, shared: for a reader that keeps one body past the
  // snapshot (remote write's queue) without pinning the other variants.
  std::shared_ptr<const Buffer> sharedBody(Format f, bool gzip) const { return bodies_[static_cast<size_t>(f)][gzip ? 1 : 0]; }
  // Whether every variant in `wanted` is rendered.
  bool has(const VariantSet& wanted) const;
  // The best rendered variant for a request: the same format if rendered
  // (gzip if accepted and rendered), else text 0.0.4, which every snapshot
  // from Publisher::wanted() has in plain.
  Variant choose(Format want, bool gzip_ok) const;

  uint64_t tick = 0;
  double unix_time = 0;
  size_t series = 0;
  size_t samples = 0;  // sample lines in the text formats (histograms and summaries count theirs)
  // The protobuf exposition of the families with native histograms only,
  // when the engine was asked for it (remote write's histograms field).
  std::shared_ptr<const Buffer> native_histograms;
  TickStats stats;  // the tick that built this snapshot

 private:
  friend std::shared_ptr<Snapshot> renderSnapshot(const Registry&, const VariantSet&, int,
                                                  const Snapshot*, const Snapshot*, RenderCost*);
  // Shared with the snapshots that extend this one (renderSnapshot's `base`).
  std::array<std::array<std::shared_ptr<const Buffer>, 2>, kFormatCount> bodies_;
};

// Renders the wanted variants of the registry. `previous` (may be null) sizes
// the buffers so a steady-state render never reallocates. Gzip uses `gzip_level`
// (zlib 1..9); level 1 is the default because compression, not rendering, is
// the cost of a gzip scrape (baselines.md: ~295 ns/series at level 1, ~720 at 6).
// With `base` (a snapshot of the registry in this same state), the variants
// `base` has are shared, not rendered again: how a late variant is added.
// `cost`, if given, is added what the render and the compression took.
std::shared_ptr<Snapshot> renderSnapshot(const Registry& registry, const VariantSet& wanted,
                                         int gzip_level, const Snapshot* previous,
                                         const Snapshot* base = nullptr, RenderCost* cost = nullptr);

base::Result<Buffer> gzipCompress(std::string_view data, int level);

class Publisher {
 public:
  explicit Publisher(double demand_window_seconds = 300) : window_ns_(static_cast<int64_t>(demand_window_seconds * 1e9)) {}

  std::shared_ptr<const Snapshot> current() const { return current_.load(std::memory_order_acquire); }
  void publish(std::shared_ptr<const Snapshot> s);
  bool ready() const { return current() != nullptr; }

  // The engine's side of a late variant: called (from a scrape's thread)
  // when a variant is wanted that the current snapshot lacks. The engine
  // renders it on its own thread and publishes. Set before serving; cleared
  // (nullptr) before the engine goes away.
  void setMissingHandler(std::function<void()> fn);
  // A scrape's side: records the demand and, when the current snapshot lacks
  // the variant, asks for it and waits up to `timeout` for a snapshot that
  // has it. Returns the newest snapshot either way (the caller still
  // chooses the closest variant, as after a timeout).
  std::shared_ptr<const Snapshot> awaitVariant(Format f, bool gzip, int64_t now_ns,
                                               std::chrono::milliseconds timeout) const;

  // Called by scrapes: records that this variant is wanted.
  void noteDemand(Format f, bool gzip, int64_t now_ns) const;
  // Called by the engine: the variants to render now: what was asked for
  // within the window, plus text 0.0.4 plain.
  VariantSet wanted(int64_t now_ns) const;

 private:
  std::atomic<std::shared_ptr<const Snapshot>> current_;
  mutable std::mutex mu_;  // guards on_missing_; with cv_, publish() wakes awaitVariant()
  mutable std::condition_variable cv_;
  std::function<void()> on_missing_;
  mutable std::array<std::array<std::atomic<int64_t>, 2>, kFormatCount> last_demand_ns_{};
  int64_t window_ns_;
};

}  // namespace bpfex::metrics
