#include "lua/range_functions.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

namespace bpfex::lua {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Named {
  std::string_view name;
  RangeFn fn;
};
constexpr std::array<Named, 16> kNames{{
    {"rate", RangeFn::kRate},
    {"increase", RangeFn::kIncrease},
    {"delta", RangeFn::kDelta},
    {"irate", RangeFn::kIrate},
    {"idelta", RangeFn::kIdelta},
    {"changes", RangeFn::kChanges},
    {"resets", RangeFn::kResets},
    {"deriv", RangeFn::kDeriv},
    {"predict_linear", RangeFn::kPredictLinear},
    {"avg_over_time", RangeFn::kAvg},
    {"min_over_time", RangeFn::kMin},
    {"max_over_time", RangeFn::kMax},
    {"sum_over_time", RangeFn::kSum},
    {"count_over_time", RangeFn::kCount},
    {"last_over_time", RangeFn::kLast},
    {"quantile_over_time", RangeFn::kQuantile},
}};

// Kahan-Babuska-Neumaier compensated addition, as Prometheus' kahanSumInc.
void kahanAdd(double inc, double& sum, double& c) {
  const double t = sum + inc;
  if (std::fabs(sum) >= std::fabs(inc)) c += (sum - t) + inc;
  else c += (inc - t) + sum;
  sum = t;
}

// Prometheus' extrapolatedRate: rate (counter, per second), increase
// (counter) and delta (gauge).
std::optional<double> extrapolated(std::span<const Point> p, int64_t eval_ms, int64_t range_ms, bool counter,
                                   bool per_second) {
  if (p.size() < 2) return std::nullopt;
  const Point& first = p.front();
  const Point& last = p.back();
  double result = last.v - first.v;
  if (counter) {
    double prev = 0;
    for (const Point& s : p) {
      if (s.v < prev) result += prev;  // a reset: the counter restarted from 0
      prev = s.v;
    }
  }
  double to_start = static_cast<double>(first.t_ms - (eval_ms - range_ms)) / 1000;
  const double to_end = static_cast<double>(eval_ms - last.t_ms) / 1000;
  const double sampled = static_cast<double>(last.t_ms - first.t_ms) / 1000;
  const double avg_step = sampled / static_cast<double>(p.size() - 1);
  if (counter && result > 0 && first.v >= 0) {
    // A counter is never negative: extrapolate no further back than where
    // the slope reaches zero.
    const double to_zero = sampled * (first.v / result);
    if (to_zero < to_start) to_start = to_zero;
  }
  const double threshold = avg_step * 1.1;
  double interval = sampled;
  interval += to_start < threshold ? to_start : avg_step / 2;
  interval += to_end < threshold ? to_end : avg_step / 2;
  // The order of operations is Prometheus': one factor, then one product
  // (so rate is bit-identical to Prometheus', not just close).
  double factor = interval / sampled;
  if (per_second) factor /= static_cast<double>(range_ms) / 1000;
  return result * factor;
}

// Prometheus' instantValue: irate and idelta from the last two samples.
std::optional<double> instant(std::span<const Point> p, bool per_second) {
  if (p.size() < 2) return std::nullopt;
  const Point& last = p[p.size() - 1];
  const Point& prev = p[p.size() - 2];
  double result = per_second && last.v < prev.v ? last.v : last.v - prev.v;
  const int64_t dt = last.t_ms - prev.t_ms;
  if (dt == 0) return std::nullopt;
  if (per_second) result /= static_cast<double>(dt) / 1000;
  return result;
}

// Least-squares slope and the intercept at `intercept_ms`, as Prometheus'
// linearRegression (constant series: slope 0).
std::pair<double, double> regression(std::span<const Point> p, int64_t intercept_ms) {
  double n = 0, sum_x = 0, cx = 0, sum_y = 0, cy = 0, sum_xy = 0, cxy = 0, sum_x2 = 0, cx2 = 0;
  const double init_y = p.front().v;
  bool const_y = true;
  for (size_t i = 0; i < p.size(); ++i) {
    if (const_y && i > 0 && p[i].v != init_y) const_y = false;
    n += 1;
    const double x = static_cast<double>(p[i].t_ms - intercept_ms) / 1e3;
    kahanAdd(x, sum_x, cx);
    kahanAdd(p[i].v, sum_y, cy);
    kahanAdd(x * p[i].v, sum_xy, cxy);
    kahanAdd(x * x, sum_x2, cx2);
  }
  if (const_y) {
    if (std::isinf(init_y)) return {kNaN, kNaN};
    return {0, init_y};
  }
  sum_x += cx;
  sum_y += cy;
  sum_xy += cxy;
  sum_x2 += cx2;
  const double cov_xy = sum_xy - sum_x * sum_y / n;
  const double var_x = sum_x2 - sum_x * sum_x / n;
  const double slope = cov_xy / var_x;
  return {slope, sum_y / n - slope * sum_x / n};
}

double average(std::span<const Point> p) {
  double mean = 0, c = 0, count = 0;
  for (const Point& s : p) {
    ++count;
    if (std::isinf(mean)) {
      if (std::isinf(s.v) && (mean > 0) == (s.v > 0)) continue;
      if (!std::isinf(s.v) && !std::isnan(s.v)) continue;
    }
    kahanAdd(s.v / count - mean / count, mean, c);
  }
  return std::isinf(mean) ? mean : mean + c;
}

double quantile(double q, std::span<const Point> p) {
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  std::vector<double> v;
  v.reserve(p.size());
  for (const Point& s : p) v.push_back(s.v);
  // Go's sort.Float64Slice order: NaN first.
  std::sort(v.begin(), v.end(), [](double a, double b) { return a < b || (std::isnan(a) && !std::isnan(b)); });
  const double n = static_cast<double>(v.size());
  const double rank = q * (n - 1);
  const double lower = std::max(0.0, std::floor(rank));
  const double upper = std::min(n - 1, lower + 1);
  const double weight = rank - std::floor(rank);
  return v[static_cast<size_t>(lower)] * (1 - weight) + v[static_cast<size_t>(upper)] * weight;
}

}  // namespace

std::optional<RangeFn> rangeFnByName(std::string_view name) {
  for (const Named& n : kNames)
    if (n.name == name) return n.fn;
  // The window methods' short names: w:avg(...), w:quantile(...).
  for (const Named& n : kNames)
    if (n.name.size() > 10 && n.name.substr(n.name.size() - 10) == "_over_time" &&
        n.name.substr(0, n.name.size() - 10) == name)
      return n.fn;
  return std::nullopt;
}

std::string_view rangeFnName(RangeFn fn) {
  for (const Named& n : kNames)
    if (n.fn == fn) return n.name;
  return "?";
}

bool rangeFnTakesArg(RangeFn fn) { return fn == RangeFn::kPredictLinear || fn == RangeFn::kQuantile; }

std::optional<double> evalRange(RangeFn fn, std::span<const Point> p, int64_t eval_ms, int64_t range_ms,
                                double arg) {
  switch (fn) {
    case RangeFn::kRate: return extrapolated(p, eval_ms, range_ms, true, true);
    case RangeFn::kIncrease: return extrapolated(p, eval_ms, range_ms, true, false);
    case RangeFn::kDelta: return extrapolated(p, eval_ms, range_ms, false, false);
    case RangeFn::kIrate: return instant(p, true);
    case RangeFn::kIdelta: return instant(p, false);
    default: break;
  }
  if (p.empty()) return std::nullopt;
  switch (fn) {
    case RangeFn::kChanges:
    case RangeFn::kResets: {
      double n = 0;
      for (size_t i = 1; i < p.size(); ++i) {
        const double prev = p[i - 1].v, cur = p[i].v;
        if (fn == RangeFn::kResets ? cur < prev : cur != prev && !(std::isnan(cur) && std::isnan(prev))) ++n;
      }
      return n;
    }
    case RangeFn::kDeriv:
      if (p.size() < 2) return std::nullopt;
      // Intercept at the first sample: keeps x small (Prometheus #2674).
      return regression(p, p.front().t_ms).first;
    case RangeFn::kPredictLinear: {
      if (p.size() < 2) return std::nullopt;
      const auto [slope, intercept] = regression(p, eval_ms);
      return slope * arg + intercept;
    }
    case RangeFn::kAvg: return average(p);
    case RangeFn::kMin:
    case RangeFn::kMax: {
      double m = p.front().v;
      for (const Point& s : p)
        if ((fn == RangeFn::kMax ? s.v > m : s.v < m) || std::isnan(m)) m = s.v;
      return m;
    }
    case RangeFn::kSum: {
      double sum = 0, c = 0;
      for (const Point& s : p) kahanAdd(s.v, sum, c);
      return std::isinf(sum) ? sum : sum + c;
    }
    case RangeFn::kCount: return static_cast<double>(p.size());
    case RangeFn::kLast: return p.back().v;
    case RangeFn::kQuantile: return quantile(arg, p);
    default: return std::nullopt;
  }
}

int64_t toMillis(double seconds) { return std::llround(seconds * 1000); }

}  // namespace bpfex::lua
