// Snapshot and Publisher: the hand-over between the engine thread, which
// renders once per tick, and the HTTP threads, which only copy bytes.
//
// A Snapshot is immutable once published and shared by reference count, so a
// slow scrape keeps its bytes alive while the engine publishes newer ones.
// Which variants (format x encoding) get rendered follows demand: a variant
// asked for within the demand window is rendered every tick, and text 0.0.4
// plain always is (the answer any client can take: curl, promtool, a human).
// A scrape of a variant not (yet) rendered is served the closest one that is,
// and the next tick renders what it asked for. So nobody pays for gzip or
// OpenMetrics that nobody reads, and a scrape never renders.
//
// Thread safety: Publisher is thread-safe. Snapshot is immutable after build.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "base/result.h"
#include "metrics/buffer.h"
#include "metrics/family.h"
#include "metrics/registry.h"

namespace bpfex::metrics {

struct Variant {
  Format format;
  bool gzip;
};

// Which variants a tick should render: wanted[format][gzip].
using VariantSet = std::array<std::array<bool, 2>, kFormatCount>;

class Snapshot {
 public:
  // The rendered body for this variant, or nullptr if it was not rendered.
  const Buffer* body(Format f, bool gzip) const {
    const auto& b = bodies_[static_cast<size_t>(f)][gzip ? 1 : 0];
    return b.rendered ? &b.buf : nullptr;
  }
  // The best rendered variant for a request: the same format if rendered
  // (gzip if accepted and rendered), else text 0.0.4, which every snapshot
  // from Publisher::wanted() has in plain.
  Variant choose(Format want, bool gzip_ok) const;

  uint64_t tick = 0;
  double unix_time = 0;
  size_t series = 0;

 private:
  friend std::shared_ptr<Snapshot> renderSnapshot(const Registry&, const VariantSet&, int,
                                                  const Snapshot*);
  struct Body {
    Buffer buf;
    bool rendered = false;
  };
  std::array<std::array<Body, 2>, kFormatCount> bodies_;
};

// Renders the wanted variants of the registry. `previous` (may be null) sizes
// the buffers so a steady-state render never reallocates. Gzip uses `gzip_level`
// (zlib 1..9); level 1 is the default because compression, not rendering, is
// the cost of a gzip scrape (baselines.md: ~295 ns/series at level 1, ~720 at 6).
std::shared_ptr<Snapshot> renderSnapshot(const Registry& registry, const VariantSet& wanted,
                                         int gzip_level, const Snapshot* previous);

base::Result<Buffer> gzipCompress(std::string_view data, int level);

class Publisher {
 public:
  explicit Publisher(double demand_window_seconds = 300) : window_ns_(static_cast<int64_t>(demand_window_seconds * 1e9)) {}

  std::shared_ptr<const Snapshot> current() const { return current_.load(std::memory_order_acquire); }
  void publish(std::shared_ptr<const Snapshot> s) { current_.store(std::move(s), std::memory_order_release); }
  bool ready() const { return current() != nullptr; }

  // Called by scrapes: records that this variant is wanted.
  void noteDemand(Format f, bool gzip, int64_t now_ns) const;
  // Called by the engine: the variants to render now: what was asked for
  // within the window, plus text 0.0.4 plain.
  VariantSet wanted(int64_t now_ns) const;

 private:
  std::atomic<std::shared_ptr<const Snapshot>> current_;
  mutable std::array<std::array<std::atomic<int64_t>, 2>, kFormatCount> last_demand_ns_{};
  int64_t window_ns_;
};

}  // namespace bpfex::metrics
