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
namespace ts { constexpr uint32_t kLabels = 1, kSamples = 2; }
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
}  // namespace

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
  const size_t own = labels_.size();
  for (const auto& [n, v] : external_) {
    bool has = false;
    for (size_t k = 0; k < own && !has; ++k) has = labels_[k].first == n;
    if (!has) labels_.emplace_back(n, v);
  }
  std::sort(labels_.begin(), labels_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  // TimeSeries: its labels, then one Sample.
  ts_.clear();
  for (const auto& [n, v] : labels_) {
    if (v.empty()) continue;  // empty is absent (and the spec forbids it)
    const size_t len = 1 + wire::varintSize(n.size()) + n.size() + 1 + wire::varintSize(v.size()) + v.size();
    wire::tag(ts_, ts::kLabels, wire::kLen);
    wire::varint(ts_, len);
    wire::bytesField(ts_, lb::kName, n);
    wire::bytesField(ts_, lb::kValue, v);
  }
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

std::string snappyCompress(std::string_view raw) {
  std::string out;
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

}  // namespace bpfex::exporter
