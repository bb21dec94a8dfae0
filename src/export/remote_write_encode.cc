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

bool parseSampleValue(std::string_view s, double& v) { return parseValue(s, v); }

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

// Splits `name{a="x",b="y"}` into labels_ (views into `series`) in one pass;
// false on a backslash (the caller then unescapes) or a malformed text.
bool WriteRequestBuilder::splitPlain(std::string_view series) {
  const char* p = series.data();
  const char* end = p + series.size();
  const char* brace = static_cast<const char*>(std::memchr(p, '{', series.size()));
  if (brace == p) return false;
  labels_.emplace_back("__name__", std::string_view(p, brace == nullptr ? series.size() : static_cast<size_t>(brace - p)));
  if (brace == nullptr) return true;
  if (end[-1] != '}') return false;
  const char* q = brace + 1;
  --end;  // the closing brace
  while (q < end) {
    const char* name = q;
    while (q < end && *q != '=') ++q;
    if (q + 1 >= end || q[1] != '"') return false;
    const std::string_view n(name, static_cast<size_t>(q - name));
    q += 2;
    const char* value = q;
    while (q < end && *q != '"') {
      if (*q == '\\') return false;
      ++q;
    }
    if (q >= end) return false;
    labels_.emplace_back(n, std::string_view(value, static_cast<size_t>(q - value)));
    ++q;  // the closing quote
    if (q < end && *q == ',') ++q;
  }
  return true;
}

bool WriteRequestBuilder::add(std::string_view series, double value, int64_t timestamp_ms) {
  labels_.clear();
  if (!splitPlain(series)) {
    // Escapes in a value (rare): unescaped into strings of our own.
    labels_.clear();
    unescaped_.clear();
    const size_t brace = series.find('{');
    if (brace == 0 || brace == std::string_view::npos || series.back() != '}') return false;
    unescaped_.emplace_back(series.substr(0, brace));
    metrics::forEachEscapedLabel(series.substr(brace + 1, series.size() - brace - 2),
                                 [&](std::string_view n, std::string_view v) {
                                   unescaped_.emplace_back(n);
                                   unescaped_.emplace_back(v);
                                 });
    labels_.emplace_back("__name__", unescaped_[0]);
    for (size_t k = 1; k + 1 < unescaped_.size(); k += 2) labels_.emplace_back(unescaped_[k], unescaped_[k + 1]);
  }
  addExternalAndSort();
  // TimeSeries { labels..., samples { value, timestamp } }, written in place.
  const size_t sample_len = 9 + (timestamp_ms != 0 ? 1 + wire::varintSize(static_cast<uint64_t>(timestamp_ms)) : 0);
  const size_t ts_len = labelsSize() + 1 + wire::varintSize(sample_len) + sample_len;
  const size_t at = out_.size();
  out_.resize(at + 1 + wire::varintSize(ts_len) + ts_len);
  char* p = out_.data() + at;
  *p++ = static_cast<char>((wr::kTimeseries << 3) | wire::kLen);
  p = wire::putVarint(p, ts_len);
  p = putLabels(p);
  *p++ = static_cast<char>((ts::kSamples << 3) | wire::kLen);
  p = wire::putVarint(p, sample_len);
  *p++ = static_cast<char>((sp::kValue << 3) | wire::kFixed64);
  std::memcpy(p, &value, 8);  // little-endian IEEE 754, as the wire format is
  p += 8;
  if (timestamp_ms != 0) {
    *p++ = static_cast<char>((sp::kTimestamp << 3) | wire::kVarint);
    p = wire::putVarint(p, static_cast<uint64_t>(timestamp_ms));  // int64: two's complement varint
  }
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
  auto byName = [](const auto& a, const auto& b) { return a.first < b.first; };
  if (!std::is_sorted(labels_.begin(), labels_.end(), byName)) std::sort(labels_.begin(), labels_.end(), byName);
}

// The size of labels_ as TimeSeries.labels entries (empty values left out:
// empty is absent, and the spec forbids it).
size_t WriteRequestBuilder::labelsSize() const {
  size_t n = 0;
  for (const auto& [name, v] : labels_) {
    if (v.empty()) continue;
    const size_t len = 2 + wire::varintSize(name.size()) + name.size() + wire::varintSize(v.size()) + v.size();
    n += 1 + wire::varintSize(len) + len;
  }
  return n;
}

char* WriteRequestBuilder::putLabels(char* p) const {
  for (const auto& [name, v] : labels_) {
    if (v.empty()) continue;
    const size_t len = 2 + wire::varintSize(name.size()) + name.size() + wire::varintSize(v.size()) + v.size();
    *p++ = static_cast<char>((ts::kLabels << 3) | wire::kLen);
    p = wire::putVarint(p, len);
    *p++ = static_cast<char>((lb::kName << 3) | wire::kLen);
    p = wire::putVarint(p, name.size());
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = static_cast<char>((lb::kValue << 3) | wire::kLen);
    p = wire::putVarint(p, v.size());
    std::memcpy(p, v.data(), v.size());
    p += v.size();
  }
  return p;
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
  ts_.assign(labelsSize(), '\0');
  putLabels(ts_.data());
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
