// Family: one metric family (name, HELP, unit, type, label names) and its
// series. Series are identified by their label values; each series' label text
// is escaped once, when the series is created, and kept in one arena, so a
// render is a copy of bytes plus number formatting (GUIDE.md §1) and a lookup
// needs no allocation.
//
// Thread safety: none. A Registry and its Families belong to the engine thread;
// other threads only ever see rendered snapshots.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <utility>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "metrics/buffer.h"

namespace bpfex::metrics {

class Registry;

enum class MetricType : uint8_t { kCounter, kGauge, kHistogram, kSummary, kInfo, kUntyped };

std::string_view metricTypeName(MetricType t);

// kProtobuf: the delimited io.prometheus.client.MetricFamily stream, the
// one exposition that carries native histograms.
enum class Format : uint8_t { kText004 = 0, kOpenMetrics = 1, kProtobuf = 2 };
inline constexpr size_t kFormatCount = 3;

// How a histogram is exposed. Native (and both) need log2 buckets: bounds
// 2^k for consecutive k (hist.log2_bounds), where bucket k is exactly native
// schema 0's bucket k, and zeros are kept apart for the zero bucket.
// Text formats carry only classic buckets: a native-only family shows its
// +Inf bucket, _sum and _count there, as client_golang does.
enum class HistogramKind : uint8_t { kClassic, kNative, kBoth };

struct FamilyOptions {
  std::string name;  // counters must end in _total (unless !counter_total), info families in _info
  std::string help;
  std::string unit;  // optional; must be a suffix of the name (OpenMetrics)
  MetricType type = MetricType::kGauge;
  std::vector<std::string> label_names;
  std::vector<double> buckets;    // histogram upper bounds, strictly ascending; +Inf implied
  std::vector<double> quantiles;  // summary quantiles, strictly ascending, in [0, 1]
  HistogramKind histogram = HistogramKind::kClassic;
  // Series not written between two Registry::sweep() calls are removed: the
  // "a series a rule stops producing leaves /metrics" rule.
  bool expire_unwritten = false;
  size_t max_series = 0;  // 0: the registry's per-family limit
  // Series carry their own label names (written with setLabeled): for
  // families whose label sets vary by series, such as ALERTS. Labels with an
  // empty value are left out (empty is absent in Prometheus).
  bool free_labels = false;
  // A counter named without _total, as a client library's text exposition
  // serves one a service already has (seed 002's masque_vpn_total_connections):
  // text 0.0.4 and protobuf carry it as a counter under its name; OpenMetrics,
  // whose counters' samples must end in _total, carries it as `unknown` under
  // the same name, so a scraper stores the series the service's queries use.
  bool counter_total = true;
};

// Label values of one series, in the order of the family's label names.
// A view, like std::span: build it in the call (`f->set({"a", "b"}, 1)`) and
// never keep it past the full-expression.
class LabelValues {
 public:
  LabelValues() = default;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
  LabelValues(std::initializer_list<std::string_view> il) : p_(il.begin()), n_(il.size()) {}
#pragma GCC diagnostic pop
  LabelValues(std::span<const std::string_view> s) : p_(s.data()), n_(s.size()) {}  // NOLINT
  LabelValues(const std::vector<std::string_view>& v) : p_(v.data()), n_(v.size()) {}  // NOLINT
  size_t size() const { return n_; }
  std::string_view operator[](size_t i) const { return p_[i]; }
  const std::string_view* begin() const { return p_; }
  const std::string_view* end() const { return p_ + n_; }

 private:
  const std::string_view* p_ = nullptr;
  size_t n_ = 0;
};

class Family {
 public:
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const FamilyOptions& options() const { return opts_; }
  const std::string& name() const { return opts_.name; }
  MetricType type() const { return opts_.type; }
  size_t size() const { return meta_.size(); }
  // Samples one series exposes: 1, or a histogram's buckets + 3, a summary's quantiles + 2.
  size_t samplesPerSeries() const { return samples_per_series_; }
  // Series refused because a limit was reached, since the family was created.
  uint64_t dropped() const { return dropped_; }

  // Writes. Errors name the family and what was wrong; a refused write never
  // changes existing series.
  base::Status set(LabelValues labels, double v);       // counter (>= 0), gauge, untyped
  base::Status add(LabelValues labels, double delta);   // counter (delta >= 0), gauge, untyped
  base::Status observe(LabelValues labels, double x);   // histogram
  // Histogram from per-bucket (non-cumulative) counts: counts.size() ==
  // buckets.size() + 1, the last being the +Inf overflow bucket.
  base::Status setHistogram(LabelValues labels, std::span<const double> counts, double sum);
  // Log2 slots in bpf/include/bpfex_log2.h's convention, one per finite
  // bucket (slot k: (2^(k-1), 2^k] in the bounds' unit), and the zeros
  // counted apart: classic buckets (zeros in the first) and the native
  // histogram's zero bucket and buckets, exactly.
  base::Status setLog2(LabelValues labels, std::span<const double> slots, double sum, double zero);
  base::Status setSummary(LabelValues labels, std::span<const double> quantile_values, double sum,
                          double count);
  base::Status setInfo(LabelValues labels);  // info: value 1
  // Free-label families (gauge/untyped): the series' labels as name/value pairs.
  base::Status setLabeled(const std::vector<std::pair<std::string, std::string>>& labels, double v);

  // A series handle: where a writer that writes the same series every tick
  // (bpf.export over a map) finds it again without building its label text.
  // Valid until a series of the family is removed (sweep, remove, clear):
  // setAt() then refuses it, and the writer looks the series up again.
  struct Handle {
    uint32_t idx = UINT32_MAX;
    uint64_t epoch = 0;
  };
  // set(), also returning the series' handle (unchanged on error).
  base::Status set(LabelValues labels, double v, Handle* handle);
  // Writes a counter/gauge/untyped series by handle; false if the handle is
  // stale or the value is refused (a negative or NaN counter value), and the
  // caller falls back to set(), which names the error.
  bool setAt(Handle h, double v) {
    if (h.epoch != epoch_ || h.idx >= meta_.size() || (opts_.type == MetricType::kCounter && !(v >= 0))) return false;
    meta_[h.idx].seen = generationNow();
    values_[h.idx] = v;
    return true;
  }

  bool remove(LabelValues labels);
  void clear();
  // Marks every series written in this cycle, so a sweep keeps them: used for
  // the families of a rule that did not run, or failed, in this tick (the last
  // good values keep serving).
  void touchAll();

  // The scalar value of a series (counter, gauge, untyped, info), if present.
  std::optional<double> value(LabelValues labels) const;

  // The samples Prometheus would scrape from this family under one sample
  // name: the family's own name (counter, gauge, untyped, info; a summary's
  // quantiles), or its _bucket (cumulative, with le), _sum or _count.
  // `labels` is the escaped label text (a="x",b="y"); `inner` the quantile
  // or le label's name and value, empty for the others.
  enum class Sample : uint8_t { kValue, kBucket, kSum, kCount };
  using SampleFn = std::function<void(std::string_view labels, std::string_view inner_name,
                                      std::string_view inner_value, double v)>;
  // With `written_this_cycle`, only the series written (or touched) since the
  // last sweep: the current tick's samples, for range selectors mid-tick.
  void forEachSample(Sample which, const SampleFn& fn, bool written_this_cycle = false) const;

  // Appends this family's block in the given format. Nothing when empty.
  void render(Format format, Buffer& out) const;
  void renderProtobuf(Buffer& out) const;  // one length-delimited MetricFamily
  // Bytes a render will take, roughly: used to size buffers once.
  size_t renderSizeHint() const;

 private:
  friend class Registry;
  struct SeriesMeta {
    uint32_t off;   // escaped label text in arena_: a="x",b="y" (no braces)
    uint32_t len;
    uint32_t hash;
    uint32_t seen;  // registry generation of the last write
  };
  static constexpr uint32_t kEmpty = UINT32_MAX;

  Family(Registry* owner, FamilyOptions opts);

  // Index of the series with these labels, created if missing; -1 when a limit
  // refuses it (counted in dropped_) or the label count is wrong (*err set).
  int64_t seriesIndex(LabelValues labels, base::Status* err);
  int64_t findIndex(std::string_view key, uint32_t hash) const;
  void buildKey(LabelValues labels, std::string& key) const;
  void removeAt(uint32_t idx);
  void insertSlot(uint32_t idx);
  size_t slotOf(uint32_t idx) const;
  void eraseSlot(size_t slot);
  void growSlots();
  void compactArena();
  std::string_view labelsOf(const SeriesMeta& m) const { return {arena_.data() + m.off, m.len}; }
  base::Status typeError(std::string_view op) const;
  base::Status checkCount(std::string_view what, double c) const;  // a histogram count: a whole number >= 0
  void renderProtobufScalars(Buffer& out) const;  // counters, gauges, untyped, info
  size_t sweep(uint32_t generation);

  Registry* owner_;
  FamilyOptions opts_;
  size_t stride_;  // doubles per series: histograms [buckets][zeros (native)][sum][count]
  size_t samples_per_series_ = 1;  // samples one series exposes (the registry's max_series counts these)
  int native_offset_ = 0;  // native bucket index of the first bound (log2 of it)
  std::string om_name_;  // family name as OpenMetrics writes it (counter without _total, info without _info)
  std::vector<std::string> le_text_, le_om_, q_text_, q_om_;
  std::string header_[kFormatCount];

  std::vector<SeriesMeta> meta_;
  std::vector<double> values_;
  std::string arena_;
  size_t arena_garbage_ = 0;
  // Open addressing, linear probing, backward-shift deletion. Each slot holds
  // the series index and its hash, so a probe rejects non-matching slots
  // without touching the series record or its label text (the cache misses
  // that dominated lookups at 1M series).
  struct Slot {
    uint32_t idx;
    uint32_t hash;
  };
  std::vector<Slot> slots_;
  uint64_t dropped_ = 0;
  mutable std::string key_scratch_;
  // The series after the last one found: writers (rules over a map) write
  // the same series in the same order every tick, so the next lookup usually
  // lands here, with a sequential compare and no hashing.
  uint32_t next_hint_ = 0;
  // Bumped whenever a series is removed or moved: invalidates Handles.
  uint64_t epoch_ = 1;
  uint32_t generationNow() const;
};

}  // namespace bpfex::metrics
