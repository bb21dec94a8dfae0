// PromQL's functions over a range vector, as Prometheus 2.42 computes them,
// for one series' samples: what windows and range selectors (`range()`) in
// rules return. The reference is Prometheus itself: tests/integration/
// promql_diff_test.py evaluates every function here against the real
// Prometheus' query API on the same samples.
//
// Prometheus 2.x semantics kept here:
// - timestamps are integer milliseconds, and a range [t - r, t] is closed at
//   both ends;
// - rate/increase/delta extrapolate to the range's edges when the first or
//   last sample is within 1.1 average sample intervals of them (else half an
//   interval), never below a counter's zero point; counters add the value
//   before each drop (a reset);
// - a function with too few samples has no result (std::nullopt), which is
//   an absent series in a vector, not a zero.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace bpfex::lua {

struct Point {
  int64_t t_ms;
  double v;
};

enum class RangeFn : uint8_t {
  kRate, kIncrease, kDelta, kIrate, kIdelta, kChanges, kResets, kDeriv, kPredictLinear,
  kAvg, kMin, kMax, kSum, kCount, kLast, kQuantile,
};

// "rate", "increase", ..., "avg_over_time" (or "avg"), ..., "quantile_over_time".
std::optional<RangeFn> rangeFnByName(std::string_view name);
std::string_view rangeFnName(RangeFn fn);
// Whether the function takes a scalar argument (predict_linear's seconds,
// quantile_over_time's quantile).
bool rangeFnTakesArg(RangeFn fn);

// Evaluates `fn` at `eval_ms` over `points` (ascending time, all within
// [eval_ms - range_ms, eval_ms]); `arg` is the scalar argument if any.
std::optional<double> evalRange(RangeFn fn, std::span<const Point> points, int64_t eval_ms, int64_t range_ms,
                                double arg = 0);

// Seconds to Prometheus' integer milliseconds (rounded to nearest).
int64_t toMillis(double seconds);

}  // namespace bpfex::lua
