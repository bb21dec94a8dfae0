// SeriesHistory: the samples a Prometheus scraping bpfex at every tick would
// have stored, for the metrics that loaded rules select with range() and for
// as long as their longest range. Rules apply PromQL's range functions to it
// (lua/range_functions.h) whatever their own interval: a rule that runs every
// 30 s computes rate(x[5m]) over the 5 s tick samples, as Prometheus does.
//
// - After each tick (Engine observer) record() stores every series of each
//   watched name as published, stamped with the tick's time.
// - During a tick, select() also sees the samples written in this tick by the
//   rules and collectors that ran before the caller, stamped with this tick's
//   time: a rule after its writer evaluates over the current values, as a
//   Prometheus scrape at that moment would.
// - Bounded: at most `max_series` series and `max_samples` samples in all.
//   A new series beyond max_series is not kept, and counted (dropped()). A
//   metric whose samples would take the total past max_samples loses its
//   history and is not recorded again until the next reload (the rules that
//   select it get an error naming the cap, overflowed()): it never grows
//   past the cap, and never serves a silently shortened range.
// Thread safety: engine thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lua/range_functions.h"
#include "metrics/registry.h"

namespace bpfex::lua {

// The family and sample kind a selector name means: the family itself, or a
// histogram's or summary's name_bucket, name_sum or name_count.
std::pair<const metrics::Family*, metrics::Family::Sample> resolveSampleName(const metrics::Registry& reg,
                                                                             std::string_view name);

struct HistoryLimits {
  size_t max_series = 100'000;
  size_t max_samples = 5'000'000;  // 16 bytes each (and deque blocks): about 100 MiB
};

class SeriesHistory {
 public:
  using Limits = HistoryLimits;
  explicit SeriesHistory(Limits limits = {}) : limits_(limits) {}

  // What the loaded rules select: metric name -> longest range (ms). Names no
  // longer watched are forgotten; the others keep their samples.
  void setWatched(const std::map<std::string, int64_t>& ranges);
  bool watching(const std::string& name) const { return names_.count(name) > 0; }
  void record(const metrics::Registry& reg, int64_t t_ms);

  // The series of `name` with their samples in [eval_ms - range_ms, eval_ms]
  // (the current tick's from `reg`), each passed to fn with its label text
  // and inner label (le/quantile, empty otherwise); series without samples
  // in the range are skipped.
  using SeriesFn = std::function<void(std::string_view labels, std::string_view inner_name,
                                      std::string_view inner_value, std::span<const Point> points)>;
  void select(const metrics::Registry& reg, const std::string& name, int64_t eval_ms, int64_t range_ms,
              const SeriesFn& fn) const;

  // Whether `name`'s history went past the sample cap (see above).
  bool overflowed(const std::string& name) const {
    auto it = names_.find(name);
    return it != names_.end() && it->second.overflow;
  }
  const Limits& limits() const { return limits_; }
  size_t series() const { return series_count_; }
  size_t samples() const { return samples_; }
  uint64_t dropped() const { return dropped_; }

 private:
  struct Series {
    std::string labels, inner_value;
    std::deque<Point> points;
    mutable uint64_t visited = 0;  // select(): the call that passed it on already
  };
  struct Watched {
    int64_t range_ms = 0;
    bool overflow = false;
    std::unordered_map<std::string, Series> series;  // key: labels '\xff' inner value
    // The series at each position of the family's last walk: a family walks
    // its series in the same order every tick, so record() finds most of
    // them here with one compare and no hashing (cleared when any goes).
    std::vector<Series*> by_position;
  };
  Limits limits_;
  std::map<std::string, Watched> names_;
  size_t series_count_ = 0, samples_ = 0;
  uint64_t dropped_ = 0;
  mutable uint64_t select_calls_ = 0;
  mutable std::string key_;  // scratch: lookups build their key here, no allocation
};

}  // namespace bpfex::lua
