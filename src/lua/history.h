// HistoryWindow: the recent samples of values a rule derives itself, per key
// (any string), so it can apply PromQL's range functions to them (packets per
// second from a counter map, seeds 001 and 004). Samples are taken when the
// rule runs, as a Prometheus recording rule's are: a window fed by a rule that
// runs every 30 s holds 30 s samples. Series in the registry (any rule's or
// bpfex's own) have tick-resolution history through range() instead
// (lua/series_history.h).
//
// A window keeps what its span needs and no more: samples older than the span
// are dropped, and keys not updated for a span are forgotten. Functions are
// lua/range_functions.h's, evaluated at the newest sample's time over
// [t - span, t].
// Thread safety: engine thread only.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

#include "lua/range_functions.h"

namespace bpfex::lua {

class HistoryWindow {
 public:
  static constexpr size_t kMaxKeys = 500'000;
  explicit HistoryWindow(double seconds) : range_ms_(toMillis(seconds)) {}

  // Adds (or, at the same millisecond, replaces) the sample of `key` at `t`
  // seconds.
  void add(const std::string& key, double t, double v);
  // `fn` over the key's samples at time `t` (std::nullopt: no result).
  std::optional<double> eval(RangeFn fn, const std::string& key, double t, double arg = 0) const;
  size_t keys() const { return series_.size(); }
  // Approximate heap bytes held (keys, their nodes and deque blocks, samples):
  // what counts against the owning rule's memory cap.
  size_t bytes() const { return key_bytes_ + samples_ * sizeof(Point); }

 private:
  using Samples = std::deque<Point>;
  void forgetStale(int64_t now_ms);

  int64_t range_ms_;
  std::unordered_map<std::string, Samples> series_;
  int64_t last_sweep_ms_ = 0;
  size_t key_bytes_ = 0, samples_ = 0;
  // A key's node, hash slot and its deque's first block (libstdc++: 512 bytes).
  static constexpr size_t kPerKey = 640;
};

}  // namespace bpfex::lua
