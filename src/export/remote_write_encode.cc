#include "export/remote_write_encode.h"

#include <snappy.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>

#include "metrics/protowire.h"
#include "metrics/text_format.h"

namespace bpfex::exporter {

namespace wire = metrics::wire;

// prompb's field numbers (types.proto, remote.proto).
namespace {
namespace wr { constexpr uint32_t kTimeseries = 1; }
namespace ts { constexpr uint32_t kLabels = 1, kSamples = 2, kHistograms = 4; }
// prompb.Histogram, and where its fields come from in client_model's.
namespace ph {
constexpr uint32_t kCountInt = 1, kSum = 3, kSchema = 4, kZeroThreshold = 5, kZeroCountInt = 6, kNegativeSpans = 8,
                   kNegativeDeltas = 9, kPositiveSpans = 11, kPositiveDeltas = 12, kTimestamp = 15;
}
namespace cm {  // io.prometheus.client (metrics.proto)
constexpr uint32_t kFamilyName = 1, kFamilyMetric = 4, kMetricLabel = 1, kMetricHistogram = 7;
constexpr uint32_t kCount = 1, kSum = 2, kSchema = 5, kZeroThreshold = 6, kZeroCount = 7, kNegativeSpan = 9,
                   kNegativeDelta = 10, kPositiveSpan = 12, kPositiveDelta = 13;
}
namespace lb { constexpr uint32_t kName = 1, kValue = 2; }
namespace sp { constexpr uint32_t kValue = 1, kTimestamp = 2; }

bool parseValue(std::string_view s, double& v) {
  if (s == "+Inf") {
    v = std::numeric_limits<double>::infinity();
    return true;
  }
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}
// A protobuf field as read from a message.
struct Field {
  uint32_t num = 0, wire = 0;
  uint64_t v = 0;  // varint or fixed64 bits
  std::string_view raw;  // the value's bytes as they are on the wire
  std::string_view bytes;  // length-delimited contents
};

bool readVarint(std::string_view s, size_t& i, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (i >= s.size()) return false;
    const auto b = static_cast<uint8_t>(s[i++]);
    v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// Calls fn(Field) for each field of a message; false if it does not parse.
template <typename Fn>
bool forEachField(std::string_view s, Fn fn) {
  size_t i = 0;
  while (i < s.size()) {
    uint64_t key = 0;
    if (!readVarint(s, i, key)) return false;
    Field f{static_cast<uint32_t>(key >> 3), static_cast<uint32_t>(key & 7)};
    const size_t at = i;
    if (f.wire == wire::kVarint) {
      if (!readVarint(s, i, f.v)) return false;
    } else if (f.wire == wire::kFixed64) {
      if (i + 8 > s.size()) return false;
      std::memcpy(&f.v, s.data() + i, 8);
      i += 8;
    } else if (f.wire == wire::kLen) {
      uint64_t n = 0;
      if (!readVarint(s, i, n) || n > s.size() - i) return false;
      f.bytes = s.substr(i, n);
      i += n;
    } else if (f.wire == 5) {  // fixed32
      if (i + 4 > s.size()) return false;
      i += 4;
    } else {
      return false;
    }
    f.raw = s.substr(at, i - at);
    fn(f);
  }
  return true;
}

// client_model Histogram -> prompb Histogram (no timestamp); false when it
// has no native part.
bool nativeOf(std::string_view h, std::string& out) {
  out.clear();
  bool native = false;
  const bool ok = forEachField(h, [&](const Field& f) {
    uint32_t to = 0;
    switch (f.num) {
      case cm::kCount: to = ph::kCountInt; break;
      case cm::kSum: to = ph::kSum; break;
      case cm::kSchema: to = ph::kSchema, native = true; break;
      case cm::kZeroThreshold: to = ph::kZeroThreshold; break;
      case cm::kZeroCount: to = ph::kZeroCountInt; break;
      case cm::kNegativeSpan: to = ph::kNegativeSpans, native = true; break;
      case cm::kNegativeDelta: to = ph::kNegativeDeltas; break;
      case cm::kPositiveSpan: to = ph::kPositiveSpans, native = true; break;
      case cm::kPositiveDelta: to = ph::kPositiveDeltas; break;
      default: return;  // classic buckets, float counts bpfex never writes
    }
    wire::tag(out, to, f.wire);  // same wire types on both sides
    out.append(f.raw);
  });
  return ok && native;
}

}  // namespace

size_t forEachNativeHistogram(std::string_view stream,
                              const std::function<void(std::string_view, std::string_view)>& fn) {
  size_t bad = 0, i = 0;
  std::string series, hist;
  while (i < stream.size()) {
    uint64_t n = 0;
    if (!readVarint(stream, i, n) || n > stream.size() - i) return bad + 1;
    const std::string_view family = stream.substr(i, n);
    i += n;
    std::string_view name;
    std::vector<std::string_view> metrics;
    if (!forEachField(family, [&](const Field& f) {
          if (f.num == cm::kFamilyName && f.wire == wire::kLen) name = f.bytes;
          if (f.num == cm::kFamilyMetric && f.wire == wire::kLen) metrics.push_back(f.bytes);
        })) {
      ++bad;
      continue;
    }
    for (std::string_view m : metrics) {
      series.assign(name);
      series.push_back('\0');
      std::string_view histogram;
      const bool ok = forEachField(m, [&](const Field& f) {
        if (f.num == cm::kMetricHistogram && f.wire == wire::kLen) histogram = f.bytes;
        if (f.num != cm::kMetricLabel || f.wire != wire::kLen) return;
        forEachField(f.bytes, [&](const Field& l) {
          if (l.wire != wire::kLen) return;
          series.append(l.bytes);
          series.push_back('\0');
        });
      });
      if (!ok) {
        ++bad;
        continue;
      }
      if (!histogram.empty() && nativeOf(histogram, hist)) fn(series, hist);
    }
  }
  return bad;
}

double staleNaN() { return std::bit_cast<double>(kStaleNaNBits); }
bool isStaleNaN(double v) { return std::bit_cast<uint64_t>(v) == kStaleNaNBits; }

size_t forEachTextSample(std::string_view body, const std::function<void(std::string_view, double)>& fn) {
  size_t bad = 0, pos = 0;
  while (pos < body.size()) {
    size_t nl = body.find('\n', pos);
    if (nl == std::string_view::npos) nl = body.size();
    const std::string_view line = body.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line.front() == '#') continue;
    // The value follows the last space; a label value may hold spaces, but
    // the value and an optional timestamp cannot (bpfex writes none).
    const size_t sp = line.rfind(' ');
    double v = 0;
    if (sp == std::string_view::npos || sp == 0 || !parseValue(line.substr(sp + 1), v)) {
      ++bad;
      continue;
    }
    fn(line.substr(0, sp), v);
  }
  return bad;
}

uint64_t seriesHash(std::string_view s) {
  // FNV-1a over 8-byte words, then a final mix: fast, and spreads the
  // nearly identical series texts of one family over the shards.
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
  }
  for (; i < s.size(); ++i) h = (h ^ static_cast<unsigned char>(s[i])) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

WriteRequestBuilder::WriteRequestBuilder(LabelPairs external_labels) : external_(std::move(external_labels)) {
  std::sort(external_.begin(), external_.end());
}

bool WriteRequestBuilder::add(std::string_view series, double value, int64_t timestamp_ms) {
  labels_.clear();
  unescaped_.clear();
  const size_t brace = series.find('{');
  const std::string_view name = series.substr(0, brace);
  if (name.empty()) return false;
  labels_.emplace_back("__name__", name);
  if (brace != std::string_view::npos) {
    if (series.back() != '}') return false;
    const std::string_view text = series.substr(brace + 1, series.size() - brace - 2);
    if (text.find('\\') == std::string_view::npos) {
      // The common case: no escapes, values are views into the body.
      size_t i = 0;
      while (i < text.size()) {
        const size_t eq = text.find("=\"", i);
        if (eq == std::string_view::npos) return false;
        const size_t q = text.find('"', eq + 2);
        if (q == std::string_view::npos) return false;
        labels_.emplace_back(text.substr(i, eq - i), text.substr(eq + 2, q - eq - 2));
        i = q + 1;
        if (i < text.size() && text[i] == ',') ++i;
      }
    } else {
      metrics::forEachEscapedLabel(text, [&](std::string_view n, std::string_view v) {
        unescaped_.emplace_back(n);
        unescaped_.emplace_back(v);
      });
      for (size_t k = 0; k + 1 < unescaped_.size(); k += 2) labels_.emplace_back(unescaped_[k], unescaped_[k + 1]);
    }
  }
  addExternalAndSort();
  encodeLabels();
  std::string& sample = sample_;
  sample.clear();
  wire::doubleField(sample, sp::kValue, value);
  if (timestamp_ms != 0) {
    wire::tag(sample, sp::kTimestamp, wire::kVarint);
    wire::varint(sample, static_cast<uint64_t>(timestamp_ms));  // int64: two's complement varint
  }
  wire::bytesField(ts_, ts::kSamples, sample);
  wire::bytesField(out_, wr::kTimeseries, ts_);
  ++samples_;
  return true;
}

void WriteRequestBuilder::addExternalAndSort() {
  const size_t own = labels_.size();
  for (const auto& [n, v] : external_) {
    bool has = false;
    for (size_t k = 0; k < own && !has; ++k) has = labels_[k].first == n;
    if (!has) labels_.emplace_back(n, v);
  }
  std::sort(labels_.begin(), labels_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
}

void WriteRequestBuilder::encodeLabels() {
  ts_.clear();
  for (const auto& [n, v] : labels_) {
    if (v.empty()) continue;  // empty is absent (and the spec forbids it)
    const size_t len = 1 + wire::varintSize(n.size()) + n.size() + 1 + wire::varintSize(v.size()) + v.size();
    wire::tag(ts_, ts::kLabels, wire::kLen);
    wire::varint(ts_, len);
    wire::bytesField(ts_, lb::kName, n);
    wire::bytesField(ts_, lb::kValue, v);
  }
}

bool WriteRequestBuilder::addHistogram(std::string_view series, std::string_view histogram, int64_t timestamp_ms,
                                       bool stale) {
  labels_.clear();
  const size_t end = series.find('\0');
  if (end == 0 || end == std::string_view::npos) return false;
  labels_.emplace_back("__name__", series.substr(0, end));
  for (size_t i = end + 1; i < series.size();) {
    const size_t a = series.find('\0', i);
    if (a == std::string_view::npos) return false;
    const size_t b = series.find('\0', a + 1);
    if (b == std::string_view::npos) return false;
    labels_.emplace_back(series.substr(i, a - i), series.substr(a + 1, b - a - 1));
    i = b + 1;
  }
  addExternalAndSort();
  encodeLabels();
  std::string& h = sample_;
  h.clear();
  if (stale) {  // a stale marker: only the sum says it
    wire::doubleField(h, ph::kSum, staleNaN());
  } else {
    h.append(histogram);
  }
  wire::tag(h, ph::kTimestamp, wire::kVarint);
  wire::varint(h, static_cast<uint64_t>(timestamp_ms));
  wire::bytesField(ts_, ts::kHistograms, h);
  wire::bytesField(out_, wr::kTimeseries, ts_);
  ++samples_;
  return true;
}

std::string snappyCompress(std::string_view raw) {
  std::string out;
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

}  // namespace bpfex::exporter
