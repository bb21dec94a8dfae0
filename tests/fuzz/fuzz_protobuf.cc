// The protobuf exposition against its own reading: any label values (any
// bytes, escapes, invalid UTF-8) and any sample value go into a family; the
// delimited MetricFamily bpfex renders is decoded back here by a reader of
// the wire format written from metrics.proto, and must give the same labels
// (valid UTF-8 in, the same bytes out; invalid UTF-8 in, valid UTF-8 out)
// and the same value bits. Input: three label values split at NUL, then the
// last 8 bytes as the value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/exposition.h"
#include "metrics/registry.h"

namespace {

struct Reader {
  std::string_view in;
  bool ok = true;
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in.empty()) return ok = false, 0;
      const auto b = static_cast<uint8_t>(in.front());
      in.remove_prefix(1);
      v |= uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return v;
    }
    return ok = false, 0;
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    if (!ok || n > in.size()) return ok = false, std::string_view();
    const std::string_view s = in.substr(0, n);
    in.remove_prefix(n);
    return s;
  }
  double fixed64() {
    if (in.size() < 8) return ok = false, 0;
    double d;
    std::memcpy(&d, in.data(), 8);
    in.remove_prefix(8);
    return d;
  }
};

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF.
bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;  // the range of the second byte
    if (c < 0x80) n = 1;
    else if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else return false;
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  double value;
  std::memcpy(&value, data + size - 8, 8);
  std::string_view rest(reinterpret_cast<const char*>(data), size - 8);
  std::vector<std::string> labels;
  for (int k = 0; k < 3; ++k) {
    const size_t nul = rest.find('\0');
    labels.emplace_back(rest.substr(0, nul));
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }
  bpfex::metrics::Registry reg;
  auto fam = reg.family({.name = "fuzz_gauge", .help = "h", .label_names = {"a", "b", "c"}});
  if (!fam.ok()) std::abort();
  if (!fam.value()->set({labels[0], labels[1], labels[2]}, value).ok()) return 0;  // a refused value: fine
  bpfex::metrics::Buffer out;
  bpfex::metrics::renderRegistry(reg, bpfex::metrics::Format::kProtobuf, out);

  Reader r{out.view()};
  Reader family{r.bytes()};
  if (!r.ok || !r.in.empty()) std::abort();  // exactly one delimited message
  std::vector<std::string> got;
  double got_value = 0;
  int metrics = 0;
  while (family.ok && !family.in.empty()) {
    const uint64_t key = family.varint();
    if ((key & 7) == 2) {
      const std::string_view body = family.bytes();
      if ((key >> 3) != 4) continue;  // name, help
      ++metrics;
      Reader metric{body};
      while (metric.ok && !metric.in.empty()) {
        const uint64_t mk = metric.varint();
        Reader sub{metric.bytes()};
        if ((mk >> 3) == 1) {  // LabelPair
          while (sub.ok && !sub.in.empty()) {
            const uint64_t lk = sub.varint();
            const std::string_view s = sub.bytes();
            if ((lk >> 3) == 2) got.emplace_back(s);
          }
        } else if ((mk >> 3) == 2) {  // Gauge
          if (sub.varint() != ((1 << 3) | 1)) std::abort();
          got_value = sub.fixed64();
        }
        if (!sub.ok) std::abort();
      }
      if (!metric.ok) std::abort();
    } else {
      (void)family.varint();  // type
    }
  }
  if (!family.ok || metrics != 1 || got.size() != 3) std::abort();
  for (size_t k = 0; k < 3; ++k) {
    if (validUtf8(labels[k]) && got[k] != labels[k]) std::abort();
    if (!validUtf8(got[k])) std::abort();
  }
  if (std::memcmp(&got_value, &value, 8) != 0 && !(value != value && got_value != got_value)) std::abort();
  return 0;
}
