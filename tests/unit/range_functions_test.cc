// PromQL range functions' edge cases and the history's bounds. Their values
// in general are checked against the real Prometheus by
// tests/integration/promql_diff_test.py; these are the cases it reaches
// rarely or never.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lua/range_functions.h"
#include "lua/series_history.h"
#include "metrics/registry.h"

namespace bpfex::lua {
namespace {

std::optional<double> eval(RangeFn fn, std::vector<Point> p, int64_t at, int64_t range, double arg = 0) {
  return evalRange(fn, p, at, range, arg);
}

TEST(RangeFunctions, TooFewSamplesIsNoResultNotZero) {
  for (RangeFn fn : {RangeFn::kRate, RangeFn::kIncrease, RangeFn::kDelta, RangeFn::kIrate, RangeFn::kIdelta,
                     RangeFn::kDeriv, RangeFn::kPredictLinear})
    EXPECT_FALSE(eval(fn, {{1000, 5}}, 1000, 60000).has_value()) << rangeFnName(fn);
  // Functions of one sample have one; of none, none.
  EXPECT_EQ(eval(RangeFn::kChanges, {{1000, 5}}, 1000, 60000), 0);
  EXPECT_EQ(eval(RangeFn::kCount, {{1000, 5}}, 1000, 60000), 1);
  EXPECT_FALSE(eval(RangeFn::kLast, {}, 1000, 60000).has_value());
}

TEST(RangeFunctions, CounterResetsAndTheZeroFloor) {
  // 10 -> 25 -> reset to 5 -> 8, 5 s apart, evaluated at the last sample
  // over exactly the samples' span: no extrapolation, increase 15 + 5 + 3.
  const std::vector<Point> p{{0, 10}, {5000, 25}, {10000, 5}, {15000, 8}};
  EXPECT_EQ(eval(RangeFn::kIncrease, p, 15000, 15000), 23);
  EXPECT_EQ(eval(RangeFn::kResets, p, 15000, 15000), 1);
  EXPECT_EQ(eval(RangeFn::kDelta, p, 15000, 15000), -2);  // a gauge: no reset handling
  // A counter from 0 is not extrapolated below zero: [0 s, 10 s] of a 60 s
  // range counts 10 s, not 10 + 5 (half an interval before the first sample).
  EXPECT_EQ(eval(RangeFn::kIncrease, {{50000, 0}, {55000, 50}, {60000, 100}}, 60000, 60000), 100);
  // irate across a reset takes the new value as the increase.
  EXPECT_EQ(eval(RangeFn::kIrate, {{0, 100}, {2000, 4}}, 2000, 60000), 2);
  EXPECT_FALSE(eval(RangeFn::kIrate, {{0, 1}, {0, 2}}, 0, 60000).has_value());  // no time between
}

TEST(RangeFunctions, RegressionAndQuantiles) {
  EXPECT_EQ(eval(RangeFn::kDeriv, {{0, 7}, {1000, 7}, {2000, 7}}, 2000, 60000), 0);  // constant: exactly 0
  EXPECT_DOUBLE_EQ(*eval(RangeFn::kDeriv, {{0, 0}, {1000, 2}, {2000, 4}}, 2000, 60000), 2);
  // predict_linear's intercept is at the evaluation time: 4 + 2 * 10.
  EXPECT_DOUBLE_EQ(*eval(RangeFn::kPredictLinear, {{0, 0}, {1000, 2}, {2000, 4}}, 2000, 60000, 10), 24);
  const std::vector<Point> q{{0, 4}, {1, 1}, {2, 3}, {3, 2}};
  EXPECT_EQ(eval(RangeFn::kQuantile, q, 3, 60000, 0.5), 2.5);
  EXPECT_EQ(eval(RangeFn::kQuantile, q, 3, 60000, -1), -INFINITY);
  EXPECT_EQ(eval(RangeFn::kQuantile, q, 3, 60000, 2), INFINITY);
  EXPECT_EQ(rangeFnByName("avg"), RangeFn::kAvg);  // windows' short names
  EXPECT_EQ(rangeFnByName("quantile_over_time"), RangeFn::kQuantile);
  EXPECT_FALSE(rangeFnByName("histogram_quantile").has_value());
}

TEST(SeriesHistory, KeepsOnlyTheRangeAndForgetsGoneSeries) {
  metrics::Registry reg;
  auto* f = reg.family({.name = "x", .help = "x", .label_names = {"k"}}).value();
  SeriesHistory h;
  h.setWatched({{"x", 10000}});
  for (int t = 0; t <= 30; ++t) {
    ASSERT_TRUE(f->set({"a"}, t).ok());
    if (t < 5) {
      ASSERT_TRUE(f->set({"b"}, t).ok());
    }
    if (t == 5) f->remove({"b"});
    reg.sweep();
    h.record(reg, t * 1000);
  }
  EXPECT_EQ(h.series(), 1u);    // b is gone for longer than the range
  EXPECT_EQ(h.samples(), 11u);  // a: [20 s, 30 s], both ends
  std::vector<Point> seen;
  h.select(reg, "x", 30000, 10000, [&](std::string_view labels, std::string_view, std::string_view,
                                       std::span<const Point> p) {
    EXPECT_EQ(labels, "k=\"a\"");
    seen.assign(p.begin(), p.end());
  });
  ASSERT_EQ(seen.size(), 11u);
  EXPECT_EQ(seen.front().t_ms, 20000);
}

TEST(SeriesHistory, TheSampleCapDropsAMetricWholeNeverPartly) {
  metrics::Registry reg;
  auto* f = reg.family({.name = "x", .help = "x", .label_names = {"k"}}).value();
  auto* g = reg.family({.name = "y", .help = "y"}).value();
  SeriesHistory h({.max_series = 3, .max_samples = 20});
  h.setWatched({{"x", 3'600'000}, {"y", 3'600'000}});
  for (int t = 0; t < 8; ++t) {
    for (const char* k : {"a", "b", "c", "d"}) ASSERT_TRUE(f->set({k}, t).ok());
    ASSERT_TRUE(g->set({}, t).ok());
    reg.sweep();
    h.record(reg, t * 1000);
  }
  // Series cap: 3 of x's 4 series fit (d is dropped); y has no room left.
  // Then x's 3 samples a tick reach 20: x's history goes, y's is kept.
  EXPECT_TRUE(h.overflowed("x"));
  EXPECT_FALSE(h.overflowed("y"));
  EXPECT_LE(h.samples(), 20u);
  EXPECT_GT(h.dropped(), 0u);
  // A reload tries again.
  h.setWatched({{"x", 3'600'000}, {"y", 3'600'000}});
  EXPECT_FALSE(h.overflowed("x"));
}

}  // namespace
}  // namespace bpfex::lua
