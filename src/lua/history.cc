#include "lua/history.h"

#include <vector>

namespace bpfex::lua {

void HistoryWindow::add(const std::string& key, double t, double v) {
  const int64_t t_ms = toMillis(t);
  auto it = series_.find(key);
  if (it == series_.end()) {
    if (series_.size() >= kMaxKeys) return;
    it = series_.emplace(key, Samples()).first;
    key_bytes_ += key.size() + kPerKey;
  }
  Samples& s = it->second;
  if (!s.empty() && s.back().t_ms >= t_ms) {
    s.back().v = v;  // same time: replace
  } else {
    s.push_back({t_ms, v});
    ++samples_;
  }
  // [t - range, t] is closed at both ends (Prometheus 2.x).
  while (!s.empty() && s.front().t_ms < t_ms - range_ms_) {
    s.pop_front();
    --samples_;
  }
  if (t_ms - last_sweep_ms_ > range_ms_) forgetStale(t_ms);
}

void HistoryWindow::forgetStale(int64_t now_ms) {
  last_sweep_ms_ = now_ms;
  for (auto it = series_.begin(); it != series_.end();) {
    if (it->second.empty() || it->second.back().t_ms < now_ms - range_ms_) {
      samples_ -= it->second.size();
      key_bytes_ -= it->first.size() + kPerKey;
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<double> HistoryWindow::eval(RangeFn fn, const std::string& key, double t, double arg) const {
  auto it = series_.find(key);
  if (it == series_.end()) return std::nullopt;
  const int64_t t_ms = toMillis(t);
  const Samples& s = it->second;
  // The deque is not contiguous: copy the samples within the range.
  std::vector<Point> p;
  p.reserve(s.size());
  for (const Point& pt : s)
    if (pt.t_ms >= t_ms - range_ms_ && pt.t_ms <= t_ms) p.push_back(pt);
  return evalRange(fn, p, t_ms, range_ms_, arg);
}

}  // namespace bpfex::lua
