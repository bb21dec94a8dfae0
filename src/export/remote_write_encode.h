// Remote write 1.0's payload (https://prometheus.io/docs/specs/remote_write_spec/):
// the series of a tick's exposition turned into a prompb.WriteRequest, and
// the snappy block compression it travels in.
//
// The source is the tick's text 0.0.4 body, which every snapshot has: the
// engine renders nothing extra for remote write, and what a receiver stores
// is, byte for byte, what a scrape of that tick would have read. Values in
// it are written in the shortest form that parses back to the same double,
// so they arrive exactly.
//
// Thread safety: pure functions; a WriteRequestBuilder belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bpfex::exporter {

// Prometheus' staleness marker (value.StaleNaN): a NaN with this bit
// pattern ends a series at its timestamp. A NaN a rule writes is another one.
inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ull;
double staleNaN();
bool isStaleNaN(double v);

// Calls fn(series, value) for each sample line of a text 0.0.4 body, in
// order: `series` is the line up to the value (`name` or `name{a="x",...}`,
// escaped as the exposition writes it). Comment and blank lines are skipped.
// Returns the lines it could not read (none, from bpfex's own renderer).
template <typename Fn>  // fn(std::string_view series, double value)
size_t forEachTextSample(std::string_view body, Fn&& fn);

// A sample value as the text formats write it ("+Inf", "NaN", digits).
bool parseSampleValue(std::string_view s, double& v);

template <typename Fn>
size_t forEachTextSample(std::string_view body, Fn&& fn) {
  size_t bad = 0;
  const char* p = body.data();
  const char* end = p + body.size();
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (nl == nullptr) nl = end;
    const std::string_view line(p, static_cast<size_t>(nl - p));
    p = nl + 1;
    if (line.empty() || line.front() == '#') continue;
    // The value follows the last space; a label value may hold spaces, but
    // the value and an optional timestamp cannot (bpfex writes none).
    const size_t sp = line.rfind(' ');
    double v = 0;
    if (sp == std::string_view::npos || sp == 0 || !parseSampleValue(line.substr(sp + 1), v)) {
      ++bad;
      continue;
    }
    fn(line.substr(0, sp), v);
  }
  return bad;
}

// A 64-bit hash of a series' text: what shards and the stale-marker diff key on.
uint64_t seriesHash(std::string_view series);

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

// The native histograms of a delimited io.prometheus.client.MetricFamily
// stream (the protobuf exposition of the families that have them): calls
// fn(series, histogram) for each, where `series` is the family name and the
// raw label pairs as "name\0label\0value\0..." and `histogram` a
// prompb.Histogram without its timestamp (count, sum, schema, zero bucket,
// spans and deltas carried over field by field). Classic-only histograms
// are skipped. Returns the messages it could not read.
size_t forEachNativeHistogram(std::string_view stream,
                              const std::function<void(std::string_view series, std::string_view histogram)>& fn);

// Builds one WriteRequest: a TimeSeries per added sample, labels sorted by
// name (__name__ with the others), empty values left out, external labels
// added where the series has no label of that name.
class WriteRequestBuilder {
 public:
  explicit WriteRequestBuilder(LabelPairs external_labels);
  // `series` as forEachTextSample gives it; false (nothing added) when it
  // does not parse.
  bool add(std::string_view series, double value, int64_t timestamp_ms);
  // A native histogram: `series` and `histogram` as forEachNativeHistogram
  // gives them; a stale marker when `stale` (the sum is the staleness NaN).
  bool addHistogram(std::string_view series, std::string_view histogram, int64_t timestamp_ms, bool stale);
  size_t samples() const { return samples_; }
  const std::string& bytes() const { return out_; }
  void clear() {
    out_.clear();
    samples_ = 0;
  }

 private:
  LabelPairs external_;
  std::string out_, ts_, sample_;
  bool splitPlain(std::string_view series);
  void addExternalAndSort();
  size_t labelsSize() const;
  char* putLabels(char* p) const;
  std::vector<std::pair<std::string_view, std::string_view>> labels_;
  std::vector<std::string> unescaped_;
  size_t samples_ = 0;
};

// Snappy's block format (not the framed one), as remote write requires.
std::string snappyCompress(std::string_view raw);

}  // namespace bpfex::exporter
