// HistoryWindow: the recent samples of values a rule derives from, per key,
// so rules can compute rate/increase/delta/avg/min/max over a window (e.g.
// packets per second from a counter map, seeds 001 and 004). A window keeps
// what its span needs and no more: samples older than the span are dropped,
// and keys not updated for a span are forgotten.
//
// Semantics: rate = increase / (newest time - oldest time); increase counts
// counter resets as Prometheus does (a drop means the counter restarted from
// 0); delta = newest - oldest. Fewer than two samples: NaN (nil in Lua).
// Thread safety: engine thread only.
#pragma once

#include <deque>
#include <string>
#include <unordered_map>
#include <utility>

namespace bpfex::lua {

class HistoryWindow {
 public:
  static constexpr size_t kMaxKeys = 500'000;
  explicit HistoryWindow(double seconds) : seconds_(seconds) {}

  void add(const std::string& key, double t, double v);
  double rate(const std::string& key, double now, double v) const;
  double increase(const std::string& key, double now, double v) const;
  double delta(const std::string& key, double now, double v) const;
  double avg(const std::string& key, double now, double v) const;
  double min(const std::string& key, double now, double v) const;
  double max(const std::string& key, double now, double v) const;
  size_t keys() const { return series_.size(); }
  // Approximate heap bytes held (keys, their nodes and deque blocks, samples):
  // what counts against the owning rule's memory cap.
  size_t bytes() const { return key_bytes_ + samples_ * sizeof(std::pair<double, double>); }

 private:
  using Samples = std::deque<std::pair<double, double>>;
  const Samples* find(const std::string& key) const;
  void forgetStale(double now);

  double seconds_;
  std::unordered_map<std::string, Samples> series_;
  double last_sweep_ = 0;
  size_t key_bytes_ = 0, samples_ = 0;
  // A key's node, hash slot and its deque's first block (libstdc++: 512 bytes).
  static constexpr size_t kPerKey = 640;
};

}  // namespace bpfex::lua
