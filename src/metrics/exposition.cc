#include "metrics/exposition.h"

#include <charconv>
#include <cstdlib>
#include <string>

namespace bpfex::metrics {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

struct MediaRange {
  std::string_view type;
  std::string_view version;
  std::string_view proto, encoding;  // protobuf's parameters
  double q = 1.0;
};

// Calls fn(MediaRange) for each comma-separated entry of an Accept-like header.
template <typename Fn>
void forEachRange(std::string_view header, Fn fn) {
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view entry = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    MediaRange r;
    const size_t semi = entry.find(';');
    r.type = trim(entry.substr(0, semi));
    std::string_view params = semi == std::string_view::npos ? std::string_view() : entry.substr(semi + 1);
    while (!params.empty()) {
      const size_t next = params.find(';');
      std::string_view p = trim(params.substr(0, next));
      params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
      const size_t eq = p.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view key = trim(p.substr(0, eq)), val = trim(p.substr(eq + 1));
      if (iequals(key, "q")) {
        r.q = std::strtod(std::string(val).c_str(), nullptr);
      } else if (iequals(key, "version")) {
        r.version = val;
      } else if (iequals(key, "proto")) {
        r.proto = val;
      } else if (iequals(key, "encoding")) {
        r.encoding = val;
      }
    }
    if (!r.type.empty()) fn(r);
  }
}

}  // namespace

std::string_view contentType(Format f) {
  switch (f) {
    case Format::kOpenMetrics: return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case Format::kProtobuf:
      return "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
    default: return "text/plain; version=0.0.4; charset=utf-8";
  }
}

void renderRegistry(const Registry& registry, Format format, Buffer& out) {
  if (format == Format::kProtobuf) {
    for (const auto& f : registry.families()) f->renderProtobuf(out);
    return;
  }
  for (const auto& f : registry.families()) f->render(format, out);
  if (format == Format::kOpenMetrics) out.append("# EOF\n");
}

Format negotiateFormat(std::string_view accept) {
  Format best = Format::kText004;
  double best_q = 0;
  forEachRange(accept, [&](const MediaRange& r) {
    Format f;
    if (iequals(r.type, "application/vnd.google.protobuf")) {
      // Only the delimited MetricFamily stream (what Prometheus asks for).
      if (!iequals(r.proto, "io.prometheus.client.MetricFamily") || !iequals(r.encoding, "delimited")) return;
      f = Format::kProtobuf;
    } else if (iequals(r.type, "application/openmetrics-text")) {
      if (!r.version.empty() && r.version != "1.0.0" && r.version != "0.0.1") return;
      f = Format::kOpenMetrics;
    } else if (iequals(r.type, "text/plain")) {
      if (!r.version.empty() && r.version != "0.0.4") return;
      f = Format::kText004;
    } else if (r.type == "*/*" || iequals(r.type, "text/*")) {
      f = Format::kText004;
    } else {
      return;
    }
    if (r.q > best_q) {
      best_q = r.q;
      best = f;
    }
  });
  return best;
}

bool acceptsGzip(std::string_view accept_encoding) {
  bool ok = false;
  forEachRange(accept_encoding, [&](const MediaRange& r) {
    if ((iequals(r.type, "gzip") || r.type == "*") && r.q > 0) ok = true;
  });
  return ok;
}

}  // namespace bpfex::metrics
