#include "lua/series_history.h"

#include <vector>

namespace bpfex::lua {

using metrics::Family;

std::pair<const Family*, Family::Sample> resolveSampleName(const metrics::Registry& reg, std::string_view name) {
  if (const Family* f = reg.find(name)) return {f, Family::Sample::kValue};
  for (const auto& [suffix, kind] : {std::pair{std::string_view("_bucket"), Family::Sample::kBucket},
                                     std::pair{std::string_view("_sum"), Family::Sample::kSum},
                                     std::pair{std::string_view("_count"), Family::Sample::kCount}})
    if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix)
      if (const Family* f = reg.find(name.substr(0, name.size() - suffix.size()))) return {f, kind};
  return {nullptr, Family::Sample::kValue};
}

namespace {

// A series' key: its label text, a byte no label text has, its inner value.
void seriesKey(std::string& key, std::string_view labels, std::string_view inner_value) {
  key.assign(labels).push_back('\xff');
  key.append(inner_value);
}

}  // namespace

void SeriesHistory::setWatched(const std::map<std::string, int64_t>& ranges) {
  for (auto it = names_.begin(); it != names_.end();) {
    if (ranges.count(it->first)) {
      ++it;
      continue;
    }
    for (const auto& [key, s] : it->second.series) samples_ -= s.points.size();
    series_count_ -= it->second.series.size();
    it = names_.erase(it);
  }
  for (const auto& [name, range_ms] : ranges) {
    Watched& w = names_[name];
    w.range_ms = range_ms;
    w.overflow = false;  // a reload tries again
  }
}

void SeriesHistory::record(const metrics::Registry& reg, int64_t t_ms) {
  for (auto& [name, w] : names_) {
    if (w.overflow) continue;
    const auto [family, which] = resolveSampleName(reg, name);
    const int64_t oldest = t_ms - w.range_ms;
    size_t pos = 0;
    if (family != nullptr)
      family->forEachSample(which, [&](std::string_view labels, std::string_view, std::string_view iv, double v) {
        const size_t at = pos++;
        Series* series = at < w.by_position.size() ? w.by_position[at] : nullptr;
        if (series == nullptr || series->labels != labels || series->inner_value != iv) {
          seriesKey(key_, labels, iv);
          auto it = w.series.find(key_);
          if (it == w.series.end()) {
            if (series_count_ >= limits_.max_series || samples_ >= limits_.max_samples) {
              ++dropped_;
              return;
            }
            it = w.series.emplace(key_, Series{std::string(labels), std::string(iv), {}, 0}).first;
            ++series_count_;
          }
          series = &it->second;
          if (w.by_position.size() <= at) w.by_position.resize(at + 1, nullptr);
          w.by_position[at] = series;
        }
        auto& pts = series->points;
        if (!pts.empty() && pts.back().t_ms >= t_ms) {
          pts.back().v = v;  // the same tick recorded twice: the later wins
          return;
        }
        if (samples_ >= limits_.max_samples) {
          w.overflow = true;
          return;
        }
        pts.push_back({t_ms, v});
        ++samples_;
      });
    if (w.overflow) {
      // Past the sample cap: forget this metric's history (and stop
      // recording it) rather than serve a range with samples missing.
      for (const auto& [key, s] : w.series) samples_ -= s.points.size();
      dropped_ += w.series.size();
      series_count_ -= w.series.size();
      w.series.clear();
      w.by_position.clear();
      continue;
    }
    // Drop what no range reaches any more, and series gone for a whole range.
    for (auto it = w.series.begin(); it != w.series.end();) {
      auto& pts = it->second.points;
      while (!pts.empty() && pts.front().t_ms < oldest) {
        pts.pop_front();
        --samples_;
      }
      if (pts.empty()) {
        it = w.series.erase(it);
        --series_count_;
        w.by_position.clear();  // it may point at the erased one
      } else {
        ++it;
      }
    }
  }
}

void SeriesHistory::select(const metrics::Registry& reg, const std::string& name, int64_t eval_ms,
                           int64_t range_ms, const SeriesFn& fn) const {
  auto wit = names_.find(name);
  const auto [family, which] = resolveSampleName(reg, name);
  const std::string_view inner_name = which == Family::Sample::kBucket ? "le"
                                      : family != nullptr && family->type() == metrics::MetricType::kSummary &&
                                              which == Family::Sample::kValue
                                          ? "quantile"
                                          : "";
  const int64_t oldest = eval_ms - range_ms;
  const uint64_t call = ++select_calls_;
  std::vector<Point> pts;
  auto emit = [&](const Series& s, const Point* current) {
    pts.clear();
    for (const Point& p : s.points)
      if (p.t_ms >= oldest && p.t_ms <= eval_ms) pts.push_back(p);
    if (current != nullptr && (pts.empty() || pts.back().t_ms < eval_ms)) pts.push_back(*current);
    if (!pts.empty()) fn(s.labels, s.inner_value.empty() ? "" : inner_name, s.inner_value, pts);
  };
  // The series written in this tick, before the caller ran: their history
  // and this tick's sample.
  if (family != nullptr)
    family->forEachSample(
        which,
        [&](std::string_view labels, std::string_view, std::string_view iv, double v) {
          const Point current{eval_ms, v};
          if (wit != names_.end()) {
            seriesKey(key_, labels, iv);
            if (auto it = wit->second.series.find(key_); it != wit->second.series.end()) {
              it->second.visited = call;
              emit(it->second, &current);
              return;
            }
          }
          fn(labels, iv.empty() ? "" : inner_name, iv, std::span<const Point>(&current, 1));  // new this tick
        },
        /*written_this_cycle=*/true);
  // The others: their history only.
  if (wit != names_.end())
    for (const auto& [key, s] : wit->second.series)
      if (s.visited != call) emit(s, nullptr);
}

}  // namespace bpfex::lua
