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

#include "metrics/family.h"
#include "metrics/text_format.h"

namespace bpfex::metrics {
namespace {

// Wire types.
constexpr uint32_t kVarint = 0, kFixed64 = 1, kLen = 2;

void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void tag(std::string& out, uint32_t field, uint32_t wire) { varint(out, (uint64_t{field} << 3) | wire); }
void doubleField(std::string& out, uint32_t field, double v) {
  tag(out, field, kFixed64);
  char b[8];
  std::memcpy(b, &v, 8);  // little-endian IEEE 754, as the wire format is
  out.append(b, 8);
}
void uintField(std::string& out, uint32_t field, uint64_t v) {
  tag(out, field, kVarint);
  varint(out, v);
}
uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
void sintField(std::string& out, uint32_t field, int64_t v) {
  tag(out, field, kVarint);
  varint(out, zigzag(v));
}
void bytesField(std::string& out, uint32_t field, std::string_view s) {
  tag(out, field, kLen);
  varint(out, s.size());
  out.append(s);
}

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
// carries the raw values.
void labelPairs(std::string& out, std::string_view text, std::string& scratch, std::string& value) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t eq = text.find('=', i);
    const std::string_view name = text.substr(i, eq - i);
    size_t j = eq + 2;  // past ="
    value.clear();
    while (j < text.size() && text[j] != '"') {
      if (text[j] == '\\' && j + 1 < text.size()) {
        const char c = text[j + 1];
        value.push_back(c == 'n' ? '\n' : c);
        j += 2;
      } else {
        value.push_back(text[j++]);
      }
    }
    scratch.clear();
    bytesField(scratch, lp::kName, name);
    bytesField(scratch, lp::kValue, value);
    bytesField(out, m::kLabel, scratch);
    i = j + 2;  // past ",
  }
}

}  // namespace

void Family::renderProtobuf(Buffer& out) const {
  if (meta_.empty()) return;
  thread_local std::string fam, metric, sub, pair, value, span;
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
    metric.clear();
    labelPairs(metric, labelsOf(meta_[i]), pair, value);
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

}  // namespace bpfex::metrics
