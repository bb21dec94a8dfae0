#include "metrics/snapshot.h"

#include <zlib.h>

#include "metrics/exposition.h"

namespace bpfex::metrics {

Variant Snapshot::choose(Format want, bool gzip_ok) const {
  const Variant order[] = {{want, gzip_ok}, {want, false}, {Format::kText004, gzip_ok}, {Format::kText004, false}};
  for (const Variant& v : order)
    if (body(v.format, v.gzip) != nullptr) return v;
  return {Format::kText004, false};
}

base::Result<Buffer> gzipCompress(std::string_view data, int level) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper, which is what Content-Encoding: gzip means.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return base::Error::msg("gzip: deflateInit2 failed (level " + std::to_string(level) + ")");
  Buffer out(deflateBound(&zs, data.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.capacity());
  const int rc = deflate(&zs, Z_FINISH);
  const size_t produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return base::Error::msg("gzip: deflate did not finish (rc " + std::to_string(rc) + ")");
  out.commit(produced);
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
                                         int gzip_level, const Snapshot* previous, const Snapshot* base) {
  auto snap = std::make_shared<Snapshot>();
  snap->series = registry.seriesCount();
  if (base != nullptr) {
    snap->bodies_ = base->bodies_;
    snap->tick = base->tick;
    snap->unix_time = base->unix_time;
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
      auto b = std::make_shared<Buffer>(hint + 64);
      renderRegistry(registry, format, *b);
      if (wanted[f][0]) b->shrinkToFit();  // kept: no slack; only compressed: no copy
      plain = std::move(b);
    }
    if (need_gzip) {
      auto gz = gzipCompress(plain->view(), gzip_level);
      if (gz) snap->bodies_[f][1] = std::make_shared<const Buffer>(std::move(gz).value());
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
