#include "metrics/snapshot.h"

#include <libdeflate.h>

#include <memory>
#include <mutex>
#include <vector>

#include "base/clock.h"

#include "metrics/exposition.h"

namespace bpfex::metrics {

Variant Snapshot::choose(Format want, bool gzip_ok) const {
  const Variant order[] = {{want, gzip_ok}, {want, false}, {Format::kText004, gzip_ok}, {Format::kText004, false}};
  for (const Variant& v : order)
    if (body(v.format, v.gzip) != nullptr) return v;
  return {Format::kText004, false};
}

namespace {

// Compresses `data` into `out` (cleared first; grown to the bound if needed).
base::Status gzipInto(std::string_view data, int level, Buffer& out) {
  // libdeflate: whole-buffer DEFLATE in a gzip wrapper (what Content-Encoding:
  // gzip means), about 1.5x zlib's speed at level 1 (BENCHMARKS.md §12). One
  // compressor per thread and level, kept: its allocation is most of a small
  // body's cost.
  struct Free {
    void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
  };
  thread_local std::unique_ptr<libdeflate_compressor, Free> c;
  thread_local int c_level = 0;
  if (c == nullptr || c_level != level) {
    c.reset(libdeflate_alloc_compressor(level));
    c_level = level;
    if (c == nullptr) return base::Error::msg("gzip: no compressor for level " + std::to_string(level));
  }
  out.clear();
  out.reserve(libdeflate_gzip_compress_bound(c.get(), data.size()));
  const size_t produced = libdeflate_gzip_compress(c.get(), data.data(), data.size(), out.data(), out.capacity());
  if (produced == 0) return base::Error::msg("gzip: the output did not fit its bound");
  out.commit(produced);
  return {};
}

// Bodies whose snapshots are gone, kept for the next render. A fresh buffer
// is fresh pages: at 1M series a tick wrote ~200 MB into memory the kernel
// had to fault in and zero first, which took more CPU than rendering
// (BENCHMARKS.md §12). A kept buffer's pages are already there. Holds at most
// what one tick renders at most (every format, plain and gzip), so steady
// RSS is what the peak was before.
class BufferPool {
 public:
  static std::shared_ptr<BufferPool> shared() {
    static const auto pool = std::make_shared<BufferPool>();
    return pool;
  }
  // A buffer of at least `cap` bytes (the smallest kept that fits, else the
  // largest kept, grown), returned here when the last reference drops.
  // Plain and gzip bodies are kept apart: a gzip body touches a tenth of
  // its capacity, so a plain body in it would fault in the rest.
  enum Kind { kPlain, kGzip };
  std::shared_ptr<Buffer> take(size_t cap, Kind kind) {
    std::unique_ptr<Buffer> b;
    {
      std::lock_guard lock(mu_);
      auto& kept_ = kept_by_kind_[kind];
      auto best = kept_.end();
      for (auto it = kept_.begin(); it != kept_.end(); ++it) {
        const bool fits = (*it)->capacity() >= cap;
        if (best == kept_.end() || (fits && ((*best)->capacity() < cap || (*it)->capacity() < (*best)->capacity())) ||
            (!fits && (*best)->capacity() < cap && (*it)->capacity() > (*best)->capacity()))
          best = it;
      }
      if (best != kept_.end()) {
        b = std::move(*best);
        kept_.erase(best);
      }
    }
    if (b == nullptr) b = std::make_unique<Buffer>();
    b->clear();
    b->reserve(cap);
    return {b.release(), [pool = shared(), kind](Buffer* x) { pool->give(x, kind); }};
  }

 private:
  void give(Buffer* b, Kind kind) {
    std::unique_ptr<Buffer> owned(b);
    std::lock_guard lock(mu_);
    if (kept_by_kind_[kind].size() < kFormatCount) kept_by_kind_[kind].push_back(std::move(owned));
  }
  std::mutex mu_;
  std::vector<std::unique_ptr<Buffer>> kept_by_kind_[2];
};

}  // namespace

base::Result<Buffer> gzipCompress(std::string_view data, int level) {
  Buffer out;
  if (auto st = gzipInto(data, level, out); !st) return std::move(st).error();
  out.shrinkToFit();
  return out;
}

bool Snapshot::has(const VariantSet& wanted) const {
  for (size_t f = 0; f < kFormatCount; ++f)
    for (size_t g = 0; g < 2; ++g)
      if (wanted[f][g] && bodies_[f][g] == nullptr) return false;
  return true;
}

std::shared_ptr<Snapshot> renderSnapshot(const Registry& registry, const VariantSet& wanted,
                                         int gzip_level, const Snapshot* previous, const Snapshot* base,
                                         RenderCost* cost) {
  RenderCost unused;
  if (cost == nullptr) cost = &unused;
  auto snap = std::make_shared<Snapshot>();
  snap->series = registry.seriesCount();
  for (const auto& f : registry.families()) snap->samples += f->size() * f->samplesPerSeries();
  if (base != nullptr) {
    snap->bodies_ = base->bodies_;
    snap->tick = base->tick;
    snap->unix_time = base->unix_time;
    snap->stats = base->stats;
  }
  for (size_t f = 0; f < kFormatCount; ++f) {
    const bool need_plain = wanted[f][0] && snap->bodies_[f][0] == nullptr;
    const bool need_gzip = wanted[f][1] && snap->bodies_[f][1] == nullptr;
    if (!need_plain && !need_gzip) continue;
    const auto format = static_cast<Format>(f);
    std::shared_ptr<const Buffer> plain = snap->bodies_[f][0];
    if (plain == nullptr) {
      size_t hint = 0;
      if (previous != nullptr && previous->body(format, false) != nullptr)
        hint = previous->body(format, false)->size() + previous->body(format, false)->size() / 16;
      if (hint == 0)
        for (const auto& fam : registry.families()) hint += fam->renderSizeHint();
      const base::Stopwatch sw;
      auto b = BufferPool::shared()->take(hint + 64, BufferPool::kPlain);
      renderRegistry(registry, format, *b);
      plain = std::move(b);
      cost->render_wall += sw.wall();
      cost->render_cpu += sw.cpu();
    }
    if (need_gzip) {
      const base::Stopwatch sw;
      auto gz = BufferPool::shared()->take(plain->size() / 4 + 4096, BufferPool::kGzip);
      if (gzipInto(plain->view(), gzip_level, *gz)) snap->bodies_[f][1] = std::move(gz);
      cost->compress_wall += sw.wall();
      cost->compress_cpu += sw.cpu();
    }
    if (wanted[f][0]) snap->bodies_[f][0] = std::move(plain);
  }
  return snap;
}

void Publisher::publish(std::shared_ptr<const Snapshot> s) {
  current_.store(std::move(s), std::memory_order_release);
  {
    std::lock_guard lock(mu_);  // a waiter between its check and its wait sees this notify
  }
  cv_.notify_all();
}

void Publisher::setMissingHandler(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  on_missing_ = std::move(fn);
}

std::shared_ptr<const Snapshot> Publisher::awaitVariant(Format f, bool gzip, int64_t now_ns,
                                                        std::chrono::milliseconds timeout) const {
  noteDemand(f, gzip, now_ns);
  auto snap = current();
  if (snap == nullptr || snap->body(f, gzip) != nullptr) return snap;
  std::unique_lock lock(mu_);
  if (!on_missing_) return snap;
  on_missing_();
  cv_.wait_for(lock, timeout, [&] {
    snap = current();
    return snap->body(f, gzip) != nullptr;
  });
  return snap;
}

void Publisher::noteDemand(Format f, bool gzip, int64_t now_ns) const {
  last_demand_ns_[static_cast<size_t>(f)][gzip ? 1 : 0].store(now_ns, std::memory_order_relaxed);
}

VariantSet Publisher::wanted(int64_t now_ns) const {
  VariantSet w{};
  for (size_t f = 0; f < kFormatCount; ++f)
    for (size_t g = 0; g < 2; ++g) {
      const int64_t t = last_demand_ns_[f][g].load(std::memory_order_relaxed);
      w[f][g] = t != 0 && now_ns - t <= window_ns_;
    }
  w[static_cast<size_t>(Format::kText004)][0] = true;
  return w;
}

}  // namespace bpfex::metrics
