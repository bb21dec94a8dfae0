// The Prometheus protobuf exposition: a stream of varint-length-delimited
// io.prometheus.client.MetricFamily messages (client_model's metrics.proto).
//
// A small writer for this one fixed schema rather than protobuf-c: the
// schema is ~20 fields that have not changed since 2015 (native histograms
// added fields, never changed any), the render writes straight into the
// snapshot's Buffer like the text formats do, with no message objects
// allocated per series, and the build needs no generated code. The field
// numbers below are metrics.proto's; tests/integration/native_histogram_test.sh
// has the real Prometheus parse what this writes.
//
// Messages are written into scratch strings and copied out with their length
// prefix: each byte is copied twice, and the render stays one pass.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "metrics/family.h"
#include "metrics/protowire.h"
#include "metrics/text_format.h"

namespace bpfex::metrics {
namespace {

using namespace wire;  // NOLINT: the wire primitives, by their short names

// metrics.proto field numbers.
namespace mf { constexpr uint32_t kName = 1, kHelp = 2, kType = 3, kMetric = 4; }
namespace mt { constexpr uint32_t kCounter = 0, kGauge = 1, kSummary = 2, kUntyped = 3, kHistogram = 4; }
namespace m { constexpr uint32_t kLabel = 1, kGauge = 2, kCounter = 3, kSummary = 4, kUntyped = 5, kHistogram = 7; }
namespace lp { constexpr uint32_t kName = 1, kValue = 2; }
namespace sm { constexpr uint32_t kCount = 1, kSum = 2, kQuantile = 3; }
namespace qt { constexpr uint32_t kQuantile = 1, kValue = 2; }
namespace hg {
constexpr uint32_t kCount = 1, kSum = 2, kBucket = 3, kSchema = 5, kZeroThreshold = 6, kZeroCount = 7,
                   kPositiveSpan = 12, kPositiveDelta = 13;
}
namespace bk { constexpr uint32_t kCumulativeCount = 1, kUpperBound = 2; }
namespace sp { constexpr uint32_t kOffset = 1, kLength = 2; }

// client_golang's default zero threshold (2^-128): the zero bucket holds the
// zeros and nothing a log2 slot counts.
constexpr double kZeroThreshold = 2.938735877055719e-39;

// Our label text is the exposition's: a="x",b="y\"z" (escaped). Protobuf
// carries the raw values. One label: its name, and its value's escaped text.
struct LabelText {
  std::string_view name, escaped;
  size_t raw_size;  // the value unescaped
};
// Calls fn(LabelText) per label of `text`.
template <typename Fn>
void forEachLabel(std::string_view text, Fn fn) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t eq = text.find('=', i);
    const size_t start = eq + 2;  // past ="
    size_t j = start, escapes = 0;
    const char* q = static_cast<const char*>(std::memchr(text.data() + start, '"', text.size() - start));
    j = q == nullptr ? text.size() : static_cast<size_t>(q - text.data());
    if (std::memchr(text.data() + start, '\\', j - start) != nullptr) {  // rare: escapes, rescan
      j = start;
      while (j < text.size() && text[j] != '"') {
        if (text[j] == '\\') {
          ++escapes;  // a backslash and the character it escapes
          ++j;
        }
        ++j;
      }
    }
    fn(LabelText{text.substr(i, eq - i), text.substr(start, j - start), j - start - escapes});
    i = j + 2;  // past ",
  }
}
size_t pairSize(const LabelText& l) {
  return 1 + varintSize(l.name.size()) + l.name.size() + 1 + varintSize(l.raw_size) + l.raw_size;
}
// Metric.label entries, their encoded size.
size_t labelsSize(std::string_view text) {
  size_t n = 0;
  forEachLabel(text, [&](const LabelText& l) {
    const size_t p = pairSize(l);
    n += 1 + varintSize(p) + p;
  });
  return n;
}
// The same, into raw memory sized by labelsSize (the hot path).
char* putLabels(char* p, std::string_view text) {
  forEachLabel(text, [&](const LabelText& l) {
    *p++ = static_cast<char>((m::kLabel << 3) | kLen);
    p = putVarint(p, pairSize(l));
    *p++ = static_cast<char>((lp::kName << 3) | kLen);
    p = putVarint(p, l.name.size());
    std::memcpy(p, l.name.data(), l.name.size());
    p += l.name.size();
    *p++ = static_cast<char>((lp::kValue << 3) | kLen);
    p = putVarint(p, l.raw_size);
    if (l.raw_size == l.escaped.size()) {
      std::memcpy(p, l.escaped.data(), l.escaped.size());
      p += l.escaped.size();
      return;
    }
    for (size_t k = 0; k < l.escaped.size(); ++k) {
      char c = l.escaped[k];
      if (c == '\\' && k + 1 < l.escaped.size()) {
        c = l.escaped[++k];
        if (c == 'n') c = '\n';
      }
      *p++ = c;
    }
  });
  return p;
}

void writeLabels(std::string& out, std::string_view text) {
  const size_t at = out.size();
  out.resize(at + labelsSize(text));
  putLabels(out.data() + at, text);
}

}  // namespace

void Family::renderProtobuf(Buffer& out) const {
  if (meta_.empty()) return;
  if (stride_ == 1) return renderProtobufScalars(out);
  thread_local std::string fam, metric, sub, pair, span;
  fam.clear();
  bytesField(fam, mf::kName, opts_.name);
  if (!opts_.help.empty()) bytesField(fam, mf::kHelp, opts_.help);
  uint32_t type = mt::kGauge;  // gauges and info (no info type in the schema: client_golang's choice)
  switch (opts_.type) {
    case MetricType::kCounter: type = mt::kCounter; break;
    case MetricType::kSummary: type = mt::kSummary; break;
    case MetricType::kHistogram: type = mt::kHistogram; break;
    case MetricType::kUntyped: type = mt::kUntyped; break;
    default: break;
  }
  uintField(fam, mf::kType, type);
  const size_t nb = opts_.buckets.size() + 1;
  const bool classic = opts_.histogram != HistogramKind::kNative;
  const bool native = opts_.histogram != HistogramKind::kClassic;

  for (size_t i = 0; i < meta_.size(); ++i) {
    const double* v = &values_[i * stride_];
    const std::string_view labels = labelsOf(meta_[i]);
    metric.clear();
    writeLabels(metric, labels);
    sub.clear();
    switch (opts_.type) {
      case MetricType::kCounter:
      case MetricType::kGauge:
      case MetricType::kInfo:
      case MetricType::kUntyped: {
        doubleField(sub, 1, v[0]);  // Counter/Gauge/Untyped.value = 1
        const uint32_t f = opts_.type == MetricType::kCounter   ? m::kCounter
                           : opts_.type == MetricType::kUntyped ? m::kUntyped
                                                                : m::kGauge;
        bytesField(metric, f, sub);
        break;
      }
      case MetricType::kSummary: {
        uintField(sub, sm::kCount, static_cast<uint64_t>(v[stride_ - 1]));
        doubleField(sub, sm::kSum, v[stride_ - 2]);
        for (size_t q = 0; q < opts_.quantiles.size(); ++q) {
          pair.clear();
          doubleField(pair, qt::kQuantile, opts_.quantiles[q]);
          doubleField(pair, qt::kValue, v[q]);
          bytesField(sub, sm::kQuantile, pair);
        }
        bytesField(metric, m::kSummary, sub);
        break;
      }
      case MetricType::kHistogram: {
        uintField(sub, hg::kCount, static_cast<uint64_t>(v[stride_ - 1]));
        doubleField(sub, hg::kSum, v[stride_ - 2]);
        if (classic) {
          double cumulative = 0;
          for (size_t b = 0; b + 1 < nb; ++b) {  // +Inf is implied by the count
            cumulative += v[b];
            pair.clear();
            uintField(pair, bk::kCumulativeCount, static_cast<uint64_t>(cumulative));
            doubleField(pair, bk::kUpperBound, opts_.buckets[b]);
            bytesField(sub, hg::kBucket, pair);
          }
        }
        if (native) {
          const double zero = v[nb];
          sintField(sub, hg::kSchema, 0);
          doubleField(sub, hg::kZeroThreshold, kZeroThreshold);
          uintField(sub, hg::kZeroCount, static_cast<uint64_t>(zero));
          // Positive buckets: bucket b holds the slot minus the zeros the
          // classic first bucket also counts. One span per run of non-empty
          // buckets; deltas between consecutive emitted buckets.
          int64_t prev_count = 0;
          int64_t next_index = 0;  // where the previous span ended
          bool any = false;
          size_t b = 0;
          const size_t finite = nb - 1;
          auto countOf = [&](size_t k) { return static_cast<int64_t>(k == 0 ? v[0] - zero : v[k]); };
          std::string deltas;
          while (b < finite) {
            if (countOf(b) == 0) {
              ++b;
              continue;
            }
            const size_t start = b;
            while (b < finite && countOf(b) != 0) ++b;
            const int64_t index = native_offset_ + static_cast<int64_t>(start);
            span.clear();
            sintField(span, sp::kOffset, any ? index - next_index : index);
            uintField(span, sp::kLength, b - start);
            bytesField(sub, hg::kPositiveSpan, span);
            for (size_t k = start; k < b; ++k) {
              sintField(deltas, hg::kPositiveDelta, countOf(k) - prev_count);
              prev_count = countOf(k);
            }
            next_index = native_offset_ + static_cast<int64_t>(b);
            any = true;
          }
          if (!any) {  // no buckets: a no-op span marks the histogram native, as client_golang does
            span.clear();
            sintField(span, sp::kOffset, 0);
            uintField(span, sp::kLength, 0);
            bytesField(sub, hg::kPositiveSpan, span);
          }
          sub += deltas;
        }
        bytesField(metric, m::kHistogram, sub);
        break;
      }
    }
    bytesField(fam, mf::kMetric, metric);
  }
  std::string prefix;
  varint(prefix, fam.size());
  char* p = out.ensure(prefix.size() + fam.size());
  std::memcpy(p, prefix.data(), prefix.size());
  std::memcpy(p + prefix.size(), fam.data(), fam.size());
  out.commitTo(p + prefix.size() + fam.size());
}

// Counter, gauge, untyped, info (the bulk of any exposition): sizes first,
// then written straight into `out` with no intermediate copy.
void Family::renderProtobufScalars(Buffer& out) const {
  uint32_t type = mt::kGauge;  // gauges and info (no info type in the schema: client_golang's choice)
  uint32_t field = m::kGauge;
  if (opts_.type == MetricType::kCounter) type = mt::kCounter, field = m::kCounter;
  if (opts_.type == MetricType::kUntyped) type = mt::kUntyped, field = m::kUntyped;
  const size_t n = meta_.size();
  thread_local std::vector<uint32_t> sizes;
  sizes.resize(n);
  size_t body = 1 + varintSize(opts_.name.size()) + opts_.name.size() + 2;  // name, type
  if (!opts_.help.empty()) body += 1 + varintSize(opts_.help.size()) + opts_.help.size();
  for (size_t i = 0; i < n; ++i) {
    sizes[i] = static_cast<uint32_t>(labelsSize(labelsOf(meta_[i])) + 11);  // + the value message
    body += 1 + varintSize(sizes[i]) + sizes[i];
  }
  char* p = out.ensure(varintSize(body) + body);
  p = putVarint(p, body);
  *p++ = static_cast<char>((mf::kName << 3) | kLen);
  p = putVarint(p, opts_.name.size());
  std::memcpy(p, opts_.name.data(), opts_.name.size());
  p += opts_.name.size();
  if (!opts_.help.empty()) {
    *p++ = static_cast<char>((mf::kHelp << 3) | kLen);
    p = putVarint(p, opts_.help.size());
    std::memcpy(p, opts_.help.data(), opts_.help.size());
    p += opts_.help.size();
  }
  *p++ = static_cast<char>((mf::kType << 3) | kVarint);
  *p++ = static_cast<char>(type);
  for (size_t i = 0; i < n; ++i) {
    *p++ = static_cast<char>((mf::kMetric << 3) | kLen);
    p = putVarint(p, sizes[i]);
    p = putLabels(p, labelsOf(meta_[i]));
    *p++ = static_cast<char>((field << 3) | kLen);
    *p++ = 9;
    *p++ = static_cast<char>((1 << 3) | kFixed64);  // Counter/Gauge/Untyped.value = 1
    std::memcpy(p, &values_[i], 8);
    p += 8;
  }
  out.commitTo(p);
}

}  // namespace bpfex::metrics
