#include "metrics/family.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>

#include "metrics/registry.h"
#include "metrics/text_format.h"

namespace bpfex::metrics {

using base::Error;
using base::Status;

namespace {

uint32_t hashKey(std::string_view key) {
  const size_t h = std::hash<std::string_view>{}(key);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

inline char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

}  // namespace

std::string_view metricTypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
    case MetricType::kSummary: return "summary";
    case MetricType::kInfo: return "info";
    case MetricType::kUntyped: return "untyped";
  }
  return "untyped";
}

Family::Family(Registry* owner, FamilyOptions opts) : owner_(owner), opts_(std::move(opts)) {
  switch (opts_.type) {
    case MetricType::kHistogram:
      stride_ = opts_.buckets.size() + 1 + (opts_.histogram != HistogramKind::kClassic ? 1 : 0) + 2;
      if (!opts_.buckets.empty()) native_offset_ = std::ilogb(opts_.buckets.front());
      break;
    case MetricType::kSummary: stride_ = opts_.quantiles.size() + 2; break;
    default: stride_ = 1;
  }
  // What one series puts in the exposition, as the registry's limit counts:
  // a histogram's every bucket (+Inf included), _sum and _count; a summary's
  // quantiles, _sum and _count.
  samples_per_series_ = opts_.type == MetricType::kHistogram ? opts_.buckets.size() + 3
                        : opts_.type == MetricType::kSummary ? opts_.quantiles.size() + 2
                                                             : 1;
  om_name_ = opts_.name;
  if (opts_.type == MetricType::kCounter && opts_.counter_total) om_name_.resize(om_name_.size() - 6);  // "_total"
  if (opts_.type == MetricType::kInfo) om_name_.resize(om_name_.size() - 5);     // "_info"
  for (double b : opts_.buckets) {
    le_text_.push_back(formatGoFloat(b));
    le_om_.push_back(formatCanonicalFloat(b));
  }
  le_text_.emplace_back("+Inf");
  le_om_.emplace_back("+Inf");
  for (double q : opts_.quantiles) {
    q_text_.push_back(formatGoFloat(q));
    q_om_.push_back(formatCanonicalFloat(q));
  }

  // text 0.0.4: HELP then TYPE. info has no 0.0.4 type: it is a gauge there.
  std::string& t = header_[static_cast<size_t>(Format::kText004)];
  if (!opts_.help.empty()) {
    t += "# HELP " + opts_.name + " ";
    appendEscapedHelp(t, opts_.help, false);
    t += "\n";
  }
  const std::string_view text_type =
      opts_.type == MetricType::kInfo ? std::string_view("gauge") : metricTypeName(opts_.type);
  t += "# TYPE " + opts_.name + " " + std::string(text_type) + "\n";

  // OpenMetrics: TYPE, UNIT, HELP (the recommended order), on the family name.
  std::string& o = header_[static_cast<size_t>(Format::kOpenMetrics)];
  const std::string_view om_type =
      opts_.type == MetricType::kUntyped || (opts_.type == MetricType::kCounter && !opts_.counter_total)
          ? std::string_view("unknown")
          : metricTypeName(opts_.type);
  o += "# TYPE " + om_name_ + " " + std::string(om_type) + "\n";
  if (!opts_.unit.empty()) o += "# UNIT " + om_name_ + " " + opts_.unit + "\n";
  if (!opts_.help.empty()) {
    o += "# HELP " + om_name_ + " ";
    appendEscapedHelp(o, opts_.help, true);
    o += "\n";
  }
}

Status Family::typeError(std::string_view op) const {
  return Error(EINVAL, "metric " + opts_.name + ": " + std::string(op) + " is not valid for a " +
                           std::string(metricTypeName(opts_.type)));
}

void Family::buildKey(LabelValues labels, std::string& key) const {
  key.clear();
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) key += ',';
    key += opts_.label_names[i];
    key += "=\"";
    appendEscapedLabelValue(key, labels[i]);
    key += '"';
  }
}

int64_t Family::findIndex(std::string_view key, uint32_t hash) const {
  if (slots_.empty()) return -1;
  const size_t mask = slots_.size() - 1;
  for (size_t s = hash & mask;; s = (s + 1) & mask) {
    const Slot& sl = slots_[s];
    if (sl.idx == kEmpty) return -1;
    if (sl.hash == hash && labelsOf(meta_[sl.idx]) == key) return sl.idx;
  }
}

void Family::insertSlot(uint32_t idx) {
  const size_t mask = slots_.size() - 1;
  const uint32_t hash = meta_[idx].hash;
  size_t s = hash & mask;
  while (slots_[s].idx != kEmpty) s = (s + 1) & mask;
  slots_[s] = {idx, hash};
}

size_t Family::slotOf(uint32_t idx) const {
  const size_t mask = slots_.size() - 1;
  size_t s = meta_[idx].hash & mask;
  while (slots_[s].idx != idx) s = (s + 1) & mask;
  return s;
}

// Backward-shift deletion keeps probe chains intact without tombstones.
void Family::eraseSlot(size_t hole) {
  const size_t mask = slots_.size() - 1;
  size_t j = hole;
  for (;;) {
    j = (j + 1) & mask;
    const Slot sl = slots_[j];
    if (sl.idx == kEmpty) break;
    const size_t home = sl.hash & mask;
    // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
    const bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!stays) {
      slots_[hole] = sl;
      hole = j;
    }
  }
  slots_[hole] = {kEmpty, 0};
}

void Family::growSlots() {
  const size_t cap = std::max<size_t>(16, slots_.size() * 2);
  slots_.assign(cap, Slot{kEmpty, 0});
  for (uint32_t i = 0; i < meta_.size(); ++i) insertSlot(i);
}

int64_t Family::seriesIndex(LabelValues labels, Status* err) {
  if (labels.size() != opts_.label_names.size()) {
    *err = Error(EINVAL, "metric " + opts_.name + ": got " + std::to_string(labels.size()) +
                             " label values for " + std::to_string(opts_.label_names.size()) +
                             " label names");
    return -1;
  }
  buildKey(labels, key_scratch_);
  if (next_hint_ < meta_.size() && labelsOf(meta_[next_hint_]) == key_scratch_) {
    meta_[next_hint_].seen = owner_->generation_;
    return next_hint_++;
  }
  const uint32_t hash = hashKey(key_scratch_);
  int64_t idx = findIndex(key_scratch_, hash);
  if (idx >= 0) {
    meta_[static_cast<size_t>(idx)].seen = owner_->generation_;
    next_hint_ = static_cast<uint32_t>(idx) + 1;
    return idx;
  }
  const size_t limit = opts_.max_series ? opts_.max_series : owner_->limits_.max_series_per_family;
  if (meta_.size() >= limit || owner_->series_count_ + samples_per_series_ > owner_->limits_.max_series ||
      arena_.size() + key_scratch_.size() > UINT32_MAX) {
    ++dropped_;
    *err = Error(ENOSPC, "metric " + opts_.name + ": series limit reached (" +
                             std::to_string(meta_.size()) + " in family, " +
                             std::to_string(owner_->series_count_) + " in all); series {" +
                             key_scratch_ + "} dropped");
    return -1;
  }
  if ((meta_.size() + 1) * 4 > slots_.size() * 3) growSlots();
  const auto new_idx = static_cast<uint32_t>(meta_.size());
  meta_.push_back(SeriesMeta{static_cast<uint32_t>(arena_.size()),
                             static_cast<uint32_t>(key_scratch_.size()), hash,
                             owner_->generation_});
  arena_ += key_scratch_;
  values_.resize(values_.size() + stride_, 0.0);
  insertSlot(new_idx);
  owner_->series_count_ += samples_per_series_;
  next_hint_ = new_idx + 1;
  return new_idx;
}

uint32_t Family::generationNow() const { return owner_->generation_; }

void Family::removeAt(uint32_t idx) {
  ++epoch_;
  eraseSlot(slotOf(idx));
  arena_garbage_ += meta_[idx].len;
  const auto last = static_cast<uint32_t>(meta_.size() - 1);
  if (idx != last) {
    slots_[slotOf(last)].idx = idx;
    meta_[idx] = meta_[last];
    std::copy_n(values_.begin() + static_cast<ptrdiff_t>(last * stride_), stride_,
                values_.begin() + static_cast<ptrdiff_t>(idx * stride_));
  }
  meta_.pop_back();
  values_.resize(meta_.size() * stride_);
  owner_->series_count_ -= samples_per_series_;
  if (arena_garbage_ > 4096 && arena_garbage_ * 2 > arena_.size()) compactArena();
}

void Family::compactArena() {
  std::string fresh;
  fresh.reserve(arena_.size() - arena_garbage_);
  for (SeriesMeta& m : meta_) {
    const auto off = static_cast<uint32_t>(fresh.size());
    fresh.append(arena_, m.off, m.len);
    m.off = off;
  }
  arena_ = std::move(fresh);
  arena_garbage_ = 0;
}

size_t Family::sweep(uint32_t generation) {
  size_t removed = 0;
  for (size_t i = meta_.size(); i-- > 0;) {
    if (meta_[i].seen != generation) {
      removeAt(static_cast<uint32_t>(i));
      ++removed;
    }
  }
  return removed;
}

Status Family::set(LabelValues labels, double v) {
  Handle unused;
  return set(labels, v, &unused);
}

Status Family::set(LabelValues labels, double v, Handle* handle) {
  switch (opts_.type) {
    case MetricType::kCounter:
      if (!(v >= 0))
        return Error(EINVAL, "metric " + opts_.name + ": counter value " + formatGoFloat(v) +
                                 " is negative or NaN");
      break;
    case MetricType::kGauge:
    case MetricType::kUntyped: break;
    default: return typeError("set");
  }
  Status err;
  const int64_t idx = seriesIndex(labels, &err);
  if (idx < 0) return err;
  values_[static_cast<size_t>(idx)] = v;
  *handle = {static_cast<uint32_t>(idx), epoch_};
  return err;
}

Status Family::add(LabelValues labels, double delta) {
  switch (opts_.type) {
    case MetricType::kCounter:
      if (!(delta >= 0))
        return Error(EINVAL, "metric " + opts_.name + ": counter increment " +
                                 formatGoFloat(delta) + " is negative or NaN");
      break;
    case MetricType::kGauge:
    case MetricType::kUntyped: break;
    default: return typeError("add");
  }
  Status err;
  const int64_t idx = seriesIndex(labels, &err);
  if (idx < 0) return err;
  values_[static_cast<size_t>(idx)] += delta;
  return err;
}

Status Family::observe(LabelValues labels, double x) {
  if (opts_.type != MetricType::kHistogram) return typeError("observe");
  if (std::isnan(x)) return Error(EINVAL, "metric " + opts_.name + ": observed NaN");
  if (opts_.histogram != HistogramKind::kClassic)
    return Error(EINVAL, "metric " + opts_.name + ": a native histogram is written with set_log2 (slots, sum, zeros)");
  Status err;
  const int64_t idx = seriesIndex(labels, &err);
  if (idx < 0) return err;
  const auto& b = opts_.buckets;
  const size_t bucket = static_cast<size_t>(std::lower_bound(b.begin(), b.end(), x) - b.begin());
  double* v = &values_[static_cast<size_t>(idx) * stride_];
  v[bucket] += 1;
  v[stride_ - 2] += x;
  v[stride_ - 1] += 1;
  return err;
}

Status Family::checkCount(std::string_view what, double c) const {
  if (c >= 0 && !std::isinf(c) && std::floor(c) == c) return base::okStatus();
  return Error(EINVAL, "metric " + opts_.name + ": " + std::string(what) + " count " + formatGoFloat(c) +
                           " is not a non-negative integer");
}

Status Family::setHistogram(LabelValues labels, std::span<const double> counts, double sum) {
  if (opts_.type != MetricType::kHistogram) return typeError("setHistogram");
  const size_t nb = opts_.buckets.size() + 1;
  if (counts.size() != nb)
    return Error(EINVAL, "metric " + opts_.name + ": got " + std::to_string(counts.size()) +
                             " bucket counts for " + std::to_string(nb) + " buckets (incl. +Inf)");
  double total = 0;
  for (double c : counts) {
    if (auto st = checkCount("bucket", c); !st) return st;
    total += c;
  }
  Status err;
  const int64_t idx = seriesIndex(labels, &err);
  if (idx < 0) return err;
  double* v = &values_[static_cast<size_t>(idx) * stride_];
  std::copy(counts.begin(), counts.end(), v);
  if (opts_.histogram != HistogramKind::kClassic) v[nb] = 0;  // no zeros known apart
  v[stride_ - 2] = sum;
  v[stride_ - 1] = total;
  return err;
}

Status Family::setLog2(LabelValues labels, std::span<const double> slots, double sum, double zero) {
  if (opts_.type != MetricType::kHistogram) return typeError("setLog2");
  const size_t n = opts_.buckets.size();
  if (slots.size() != n)
    return Error(EINVAL, "metric " + opts_.name + ": got " + std::to_string(slots.size()) + " log2 slots for " +
                             std::to_string(n) + " buckets");
  if (auto st = checkCount("zero", zero); !st) return st;
  double total = zero;
  for (double c : slots) {
    if (auto st = checkCount("slot", c); !st) return st;
    total += c;
  }
  Status err;
  const int64_t idx = seriesIndex(labels, &err);
  if (idx < 0) return err;
  double* v = &values_[static_cast<size_t>(idx) * stride_];
  std::copy(slots.begin(), slots.end(), v);
  v[0] += zero;  // classic: zeros are <= the first bound
  v[n] = 0;      // +Inf: log2 slots end at the last bound
  if (opts_.histogram != HistogramKind::kClassic) v[n + 1] = zero;
  v[stride_ - 2] = sum;
  v[stride_ - 1] = total;
  return err;
}

Status Family::setSummary(LabelValues labels, std::span<const double> quantile_values, double sum,
                          double count) {
  if (opts_.type != MetricType::kSummary) return typeError("setSummary");
  const size_t nq = opts_.quantiles.size();
  if (quantile_values.size() != nq)
    return Error(EINVAL, "metric " + opts_.name + ": got " +
                             std::to_string(quantile_values.size()) + " quantile values for " +
                             std::to_string(nq) + " quantiles");
  if (!(count >= 0) || std::isinf(count) || std::isnan(sum))
    return Error(EINVAL, "metric " + opts_.name + ": summary count must be >= 0 and sum a number");
  Status err;
  const int64_t idx = seriesIndex(labels, &err);
  if (idx < 0) return err;
  double* v = &values_[static_cast<size_t>(idx) * stride_];
  std::copy(quantile_values.begin(), quantile_values.end(), v);
  v[nq] = sum;
  v[nq + 1] = count;
  return err;
}

Status Family::setInfo(LabelValues labels) {
  if (opts_.type != MetricType::kInfo) return typeError("setInfo");
  Status err;
  const int64_t idx = seriesIndex(labels, &err);
  if (idx < 0) return err;
  values_[static_cast<size_t>(idx)] = 1;
  return err;
}

Status Family::setLabeled(const std::vector<std::pair<std::string, std::string>>& labels, double v) {
  if (!opts_.free_labels) return typeError("setLabeled");
  std::vector<std::pair<std::string_view, std::string_view>> sorted;
  for (const auto& [n, val] : labels) {
    if (!isValidLabelName(n)) return Error(EINVAL, "metric " + opts_.name + ": label name \"" + n + "\" is not valid");
    if (!val.empty()) sorted.emplace_back(n, val);
  }
  std::sort(sorted.begin(), sorted.end());
  key_scratch_.clear();
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i) key_scratch_ += ',';
    key_scratch_ += sorted[i].first;
    key_scratch_ += "=\"";
    appendEscapedLabelValue(key_scratch_, sorted[i].second);
    key_scratch_ += '"';
    if (i && sorted[i].first == sorted[i - 1].first)
      return Error(EINVAL, "metric " + opts_.name + ": label " + std::string(sorted[i].first) + " appears twice");
  }
  const uint32_t hash = hashKey(key_scratch_);
  int64_t idx = findIndex(key_scratch_, hash);
  if (idx < 0) {
    const size_t limit = opts_.max_series ? opts_.max_series : owner_->limits_.max_series_per_family;
    if (meta_.size() >= limit || owner_->series_count_ + samples_per_series_ > owner_->limits_.max_series) {
      ++dropped_;
      return Error(ENOSPC, "metric " + opts_.name + ": series limit reached");
    }
    if ((meta_.size() + 1) * 4 > slots_.size() * 3) growSlots();
    idx = static_cast<int64_t>(meta_.size());
    meta_.push_back(SeriesMeta{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key_scratch_.size()), hash,
                               owner_->generation_});
    arena_ += key_scratch_;
    values_.resize(values_.size() + stride_, 0.0);
    insertSlot(static_cast<uint32_t>(idx));
    owner_->series_count_ += samples_per_series_;
  }
  meta_[static_cast<size_t>(idx)].seen = owner_->generation_;
  values_[static_cast<size_t>(idx)] = v;
  return base::okStatus();
}

bool Family::remove(LabelValues labels) {
  if (labels.size() != opts_.label_names.size()) return false;
  buildKey(labels, key_scratch_);
  const int64_t idx = findIndex(key_scratch_, hashKey(key_scratch_));
  if (idx < 0) return false;
  removeAt(static_cast<uint32_t>(idx));
  return true;
}

void Family::touchAll() {
  for (SeriesMeta& m : meta_) m.seen = owner_->generation_;
}

void Family::clear() {
  ++epoch_;
  owner_->series_count_ -= meta_.size() * samples_per_series_;
  meta_.clear();
  values_.clear();
  arena_.clear();
  arena_garbage_ = 0;
  slots_.clear();
}

std::optional<double> Family::value(LabelValues labels) const {
  if (stride_ != 1 || labels.size() != opts_.label_names.size()) return std::nullopt;
  buildKey(labels, key_scratch_);
  const int64_t idx = findIndex(key_scratch_, hashKey(key_scratch_));
  if (idx < 0) return std::nullopt;
  return values_[static_cast<size_t>(idx)];
}

void Family::forEachSample(Sample which, const SampleFn& fn, bool written_this_cycle) const {
  const bool histogram = opts_.type == MetricType::kHistogram;
  const bool summary = opts_.type == MetricType::kSummary;
  if ((which == Sample::kBucket && !histogram) || ((which == Sample::kSum || which == Sample::kCount) && stride_ == 1) ||
      (which == Sample::kValue && histogram))
    return;
  for (size_t i = 0; i < meta_.size(); ++i) {
    if (written_this_cycle && meta_[i].seen != owner_->generation_) continue;
    const std::string_view labels = labelsOf(meta_[i]);
    const double* v = &values_[i * stride_];
    switch (which) {
      case Sample::kValue:
        if (!summary) fn(labels, {}, {}, v[0]);
        else
          for (size_t q = 0; q < q_text_.size(); ++q) fn(labels, "quantile", q_text_[q], v[q]);
        break;
      case Sample::kBucket: {
        double cumulative = 0;
        for (size_t b = 0; b < le_text_.size(); ++b) fn(labels, "le", le_text_[b], cumulative += v[b]);  // +Inf last
        break;
      }
      case Sample::kSum: fn(labels, {}, {}, v[stride_ - 2]); break;
      case Sample::kCount: fn(labels, {}, {}, v[stride_ - 1]); break;
    }
  }
}

size_t Family::renderSizeHint() const {
  const size_t lines = stride_ == 1 ? 1 : stride_;  // buckets/quantiles + _sum + _count
  const size_t per_line = opts_.name.size() + 8 /*suffix*/ + 16 /*le/quantile*/ + 12 /*value*/;
  return header_[1].size() + meta_.size() * lines * per_line + (arena_.size() - arena_garbage_) * lines;
}

void Family::render(Format format, Buffer& out) const {
  if (meta_.empty()) return;
  const auto f = static_cast<size_t>(format);
  out.append(header_[f]);
  const std::string_view name = opts_.name;
  const size_t n = meta_.size();

  if (stride_ == 1) {
    // Counter, gauge, untyped, info: name{labels} value
    for (size_t i = 0; i < n; ++i) {
      const SeriesMeta& m = meta_[i];
      char* p = out.ensure(name.size() + m.len + 4 + kMaxNumberChars);
      p = put(p, name);
      if (m.len) {
        *p++ = '{';
        p = put(p, labelsOf(m));
        *p++ = '}';
      }
      *p++ = ' ';
      p = formatValue(p, values_[i]);
      *p++ = '\n';
      out.commitTo(p);
    }
    return;
  }

  const bool histogram = opts_.type == MetricType::kHistogram;
  const auto& bounds = histogram ? (format == Format::kOpenMetrics ? le_om_ : le_text_)
                                 : (format == Format::kOpenMetrics ? q_om_ : q_text_);
  const std::string_view inner_label = histogram ? std::string_view("le=\"") : "quantile=\"";
  const std::string bucket_name = histogram ? opts_.name + "_bucket" : opts_.name;
  const std::string sum_name = opts_.name + "_sum";
  const std::string count_name = opts_.name + "_count";
  // OpenMetrics forbids _sum with negative buckets; _count goes with it.
  const bool write_sum_count = !(histogram && format == Format::kOpenMetrics &&
                                 !opts_.buckets.empty() && opts_.buckets.front() < 0);
  size_t max_bound = 0;
  for (const auto& b : bounds) max_bound = std::max(max_bound, b.size());
  const size_t nb = bounds.size();
  const bool native_only = histogram && opts_.histogram == HistogramKind::kNative;

  for (size_t i = 0; i < n; ++i) {
    const SeriesMeta& m = meta_[i];
    const std::string_view labels = labelsOf(m);
    const double* v = &values_[i * stride_];
    const size_t line_max = bucket_name.size() + m.len + max_bound + 20 + kMaxNumberChars;
    char* p = out.ensure(nb * line_max + 2 * (count_name.size() + m.len + 4 + kMaxNumberChars));
    double cumulative = 0;
    for (size_t b = 0; b < nb; ++b) {
      if (native_only && b + 1 < nb) {  // text shows a native-only histogram's +Inf bucket only
        cumulative += v[b];
        continue;
      }
      p = put(p, bucket_name);
      *p++ = '{';
      if (m.len) {
        p = put(p, labels);
        *p++ = ',';
      }
      p = put(p, inner_label);
      p = put(p, bounds[b]);
      *p++ = '"';
      *p++ = '}';
      *p++ = ' ';
      if (histogram) {
        cumulative += v[b];
        p = formatValue(p, cumulative);
      } else {
        p = formatValue(p, v[b]);
      }
      *p++ = '\n';
    }
    if (write_sum_count) {
      for (int k = 0; k < 2; ++k) {
        p = put(p, k == 0 ? std::string_view(sum_name) : std::string_view(count_name));
        if (m.len) {
          *p++ = '{';
          p = put(p, labels);
          *p++ = '}';
        }
        *p++ = ' ';
        p = formatValue(p, v[stride_ - 2 + static_cast<size_t>(k)]);
        *p++ = '\n';
      }
    }
    out.commitTo(p);
  }
}

}  // namespace bpfex::metrics
