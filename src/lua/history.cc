#include "lua/history.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

namespace bpfex::lua {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

void HistoryWindow::add(const std::string& key, double t, double v) {
  auto it = series_.find(key);
  if (it == series_.end()) {
    if (series_.size() >= kMaxKeys) return;
    it = series_.emplace(key, Samples()).first;
    key_bytes_ += key.size() + kPerKey;
  }
  Samples& s = it->second;
  if (!s.empty() && s.back().first == t) {
    s.back().second = v;  // same tick: replace
  } else {
    s.emplace_back(t, v);
    ++samples_;
  }
  // Keep samples within the span (plus the newest one outside it is not
  // needed: Prometheus' range selectors are inclusive of [now - span, now]).
  while (s.size() > 1 && s.front().first < t - seconds_) {
    s.pop_front();
    --samples_;
  }
  if (t - last_sweep_ > seconds_) forgetStale(t);
}

void HistoryWindow::forgetStale(double now) {
  last_sweep_ = now;
  for (auto it = series_.begin(); it != series_.end();) {
    if (it->second.empty() || it->second.back().first < now - seconds_) {
      samples_ -= it->second.size();
      key_bytes_ -= it->first.size() + kPerKey;
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
}

const HistoryWindow::Samples* HistoryWindow::find(const std::string& key) const {
  auto it = series_.find(key);
  return it == series_.end() ? nullptr : &it->second;
}

double HistoryWindow::increase(const std::string& key, double, double) const {
  const Samples* s = find(key);
  if (s == nullptr || s->size() < 2) return kNaN;
  double inc = 0;
  for (size_t i = 1; i < s->size(); ++i) {
    const double prev = (*s)[i - 1].second, cur = (*s)[i].second;
    inc += cur >= prev ? cur - prev : cur;  // a drop is a counter reset
  }
  return inc;
}

double HistoryWindow::rate(const std::string& key, double now, double v) const {
  const Samples* s = find(key);
  if (s == nullptr || s->size() < 2) return kNaN;
  const double span = s->back().first - s->front().first;
  return span > 0 ? increase(key, now, v) / span : kNaN;
}

double HistoryWindow::delta(const std::string& key, double, double) const {
  const Samples* s = find(key);
  if (s == nullptr || s->size() < 2) return kNaN;
  return s->back().second - s->front().second;
}

namespace {

// Folds a series' samples with `op`, starting from the first; NaN when empty.
template <class Samples, class Op>
double fold(const Samples* s, Op op) {
  if (s == nullptr || s->empty()) return std::numeric_limits<double>::quiet_NaN();
  double acc = s->front().second;
  for (auto it = std::next(s->begin()); it != s->end(); ++it) acc = op(acc, it->second);
  return acc;
}

}  // namespace

double HistoryWindow::avg(const std::string& key, double, double) const {
  const Samples* s = find(key);
  return fold(s, [](double a, double b) { return a + b; }) / static_cast<double>(s ? s->size() : 1);
}

double HistoryWindow::min(const std::string& key, double, double) const {
  return fold(find(key), [](double a, double b) { return std::min(a, b); });
}

double HistoryWindow::max(const std::string& key, double, double) const {
  return fold(find(key), [](double a, double b) { return std::max(a, b); });
}

}  // namespace bpfex::lua
