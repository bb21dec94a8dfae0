#include "metrics/registry.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <set>

#include "metrics/text_format.h"

namespace bpfex::metrics {

using base::Error;
using base::Result;

namespace {

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string describe(const FamilyOptions& o) {
  std::string s(metricTypeName(o.type));
  s += " with labels [";
  for (size_t i = 0; i < o.label_names.size(); ++i) s += (i ? "," : "") + o.label_names[i];
  s += "]";
  return s;
}

// Every name the family puts on the wire (samples and OpenMetrics family name).
std::vector<std::string> wireNames(const FamilyOptions& o) {
  const std::string& n = o.name;
  switch (o.type) {
    case MetricType::kCounter: return o.counter_total ? std::vector<std::string>{n, n.substr(0, n.size() - 6)}
                                                      : std::vector<std::string>{n};
    case MetricType::kInfo: return {n, n.substr(0, n.size() - 5)};
    case MetricType::kHistogram: return {n, n + "_bucket", n + "_sum", n + "_count"};
    case MetricType::kSummary: return {n, n + "_sum", n + "_count"};
    default: return {n};
  }
}

base::Status validate(FamilyOptions& o) {
  auto fail = [&](const std::string& why) { return Error(EINVAL, "metric " + o.name + ": " + why); };
  if (!isValidMetricName(o.name))
    return Error(EINVAL, "metric name \"" + o.name + "\" is not valid ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  if (o.type == MetricType::kCounter && o.counter_total && !endsWith(o.name, "_total"))
    return fail("counter names must end in _total (or declare total = false: a counter named as a service "
                "already names it)");
  if (!o.counter_total && (o.type != MetricType::kCounter || endsWith(o.name, "_total")))
    return fail("total = false is for counters whose name does not end in _total");
  if (o.type == MetricType::kInfo && !endsWith(o.name, "_info"))
    return fail("info names must end in _info");
  std::set<std::string_view> seen;
  for (const auto& l : o.label_names) {
    if (!isValidLabelName(l))
      return fail("label name \"" + l + "\" is not valid ([a-zA-Z_][a-zA-Z0-9_]*, not __*)");
    if (!seen.insert(l).second) return fail("label name \"" + l + "\" appears twice");
    if (o.type == MetricType::kHistogram && l == "le") return fail("a histogram cannot have label le");
    if (o.type == MetricType::kSummary && l == "quantile")
      return fail("a summary cannot have label quantile");
  }
  if (o.free_labels) {
    if (!o.label_names.empty()) return fail("a free-label family declares no label names");
    if (o.type != MetricType::kGauge && o.type != MetricType::kUntyped) return fail("only gauges can have free labels");
  }
  if (o.type == MetricType::kHistogram) {
    if (!o.buckets.empty() && std::isinf(o.buckets.back()) && o.buckets.back() > 0)
      o.buckets.pop_back();  // +Inf is implied
    if (o.buckets.empty()) return fail("a histogram needs at least one finite bucket");
    for (size_t i = 0; i < o.buckets.size(); ++i) {
      if (!std::isfinite(o.buckets[i])) return fail("bucket bounds must be finite");
      if (i && !(o.buckets[i] > o.buckets[i - 1])) return fail("bucket bounds must be strictly ascending");
    }
    if (o.histogram != HistogramKind::kClassic) {
      // Native schema 0: bounds 2^k for consecutive k, so bucket k is
      // exactly native bucket k (hist.log2_bounds with a power-of-two scale).
      for (size_t i = 0; i < o.buckets.size(); ++i) {
        int e = 0;
        const double m = std::frexp(o.buckets[i], &e);
        if (m != 0.5 || (i && o.buckets[i] != 2 * o.buckets[i - 1]))
          return fail("a native histogram needs log2 buckets: bounds 2^k for consecutive k (hist.log2_bounds with a "
                      "power-of-two scale); " + formatGoFloat(o.buckets[i]) + " is not");
      }
    }
  } else if (!o.buckets.empty()) {
    return fail("only histograms have buckets");
  } else if (o.histogram != HistogramKind::kClassic) {
    return fail("only histograms can be native");
  }
  if (o.type == MetricType::kSummary) {
    for (size_t i = 0; i < o.quantiles.size(); ++i) {
      if (!(o.quantiles[i] >= 0 && o.quantiles[i] <= 1)) return fail("quantiles must be in [0, 1]");
      if (i && !(o.quantiles[i] > o.quantiles[i - 1])) return fail("quantiles must be strictly ascending");
    }
  } else if (!o.quantiles.empty()) {
    return fail("only summaries have quantiles");
  }
  if (!o.unit.empty()) {
    std::string om = o.name;
    if (o.type == MetricType::kCounter && o.counter_total) om.resize(om.size() - 6);
    if (o.type == MetricType::kInfo) om.resize(om.size() - 5);
    if (!isValidLabelName(o.unit) || !endsWith(om, "_" + o.unit))
      return fail("unit \"" + o.unit + "\" must be a suffix of the name (\"" + om + "\")");
  }
  return base::okStatus();
}

}  // namespace

Result<Family*> Registry::family(FamilyOptions opts) {
  if (auto st = validate(opts); !st) return std::move(st).error();
  if (auto it = by_name_.find(opts.name); it != by_name_.end()) {
    const FamilyOptions& have = it->second->options();
    if (have.type == opts.type && have.label_names == opts.label_names &&
        have.buckets == opts.buckets && have.quantiles == opts.quantiles && have.histogram == opts.histogram)
      return it->second;
    return Error(EEXIST, "metric " + opts.name + " is already registered as a " + describe(have) +
                             "; cannot register it as a " + describe(opts));
  }
  const auto names = wireNames(opts);
  for (const auto& n : names) {
    if (auto r = reserved_.find(n); r != reserved_.end())
      return Error(EEXIST, "metric " + opts.name + " (" + std::string(metricTypeName(opts.type)) +
                               ") would clash with metric " + r->second + " over the name " + n);
  }
  auto fam = std::unique_ptr<Family>(new Family(this, std::move(opts)));
  Family* raw = fam.get();
  for (const auto& n : names) reserved_.emplace(n, raw->name());
  by_name_.emplace(raw->name(), raw);
  families_.push_back(std::move(fam));
  return raw;
}

Family* Registry::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

bool Registry::unregister(std::string_view name) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return false;
  Family* f = it->second;
  for (const auto& n : wireNames(f->options())) reserved_.erase(n);
  series_count_ -= f->size() * f->samplesPerSeries();
  by_name_.erase(it);
  families_.erase(std::find_if(families_.begin(), families_.end(),
                               [f](const auto& p) { return p.get() == f; }));
  return true;
}

void Registry::sweep() {
  for (auto& f : families_)
    if (f->options().expire_unwritten) f->sweep(generation_);
  ++generation_;
}

uint64_t Registry::droppedTotal() const {
  uint64_t n = 0;
  for (const auto& f : families_) n += f->dropped();
  return n;
}

}  // namespace bpfex::metrics
