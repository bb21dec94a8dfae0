#include "metrics/text_validate.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "metrics/text_format.h"

namespace bpfex::metrics {

using base::Error;
using base::Result;

namespace {

struct Parser {
  std::string_view s;
  size_t i = 0;
  bool eol() const { return i >= s.size(); }
  void spaces() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  }
  std::string_view name(bool metric) {
    const size_t b = i;
    while (i < s.size()) {
      const char c = s[i];
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > b && c >= '0' && c <= '9') ||
                      (metric && c == ':');
      if (!ok) break;
      ++i;
    }
    return s.substr(b, i - b);
  }
};

bool parseFloat(std::string_view t, double* out) {
  std::string v(t);
  if (v.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(v.c_str(), &end);  // accepts NaN, Inf, +Inf, -Inf (any case), as Go's ParseFloat
  return end == v.c_str() + v.size();
}

std::string_view familyOf(std::string_view sample, const std::map<std::string, std::string, std::less<>>& types) {
  if (types.count(sample)) return sample;
  for (std::string_view suffix : {"_bucket", "_count", "_sum"}) {
    if (sample.size() > suffix.size() && sample.substr(sample.size() - suffix.size()) == suffix) {
      const std::string_view base = sample.substr(0, sample.size() - suffix.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return sample;
}

}  // namespace

Result<TextStats> validateText004(std::string_view text, std::string_view name, const TextValidation& opts) {
  TextStats stats;
  std::map<std::string, std::string, std::less<>> types;  // family -> type
  std::set<std::string, std::less<>> helps, sampled, series;
  size_t line_no = 0, pos = 0;
  auto fail = [&](const std::string& what) {
    return Error::msg(std::string(name) + ":" + std::to_string(line_no) + ": " + what);
  };
  if (!text.empty() && text.back() != '\n') {
    line_no = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    return fail("the last line does not end in a newline (the Pushgateway answers 400)");
  }
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.find('\r') != std::string_view::npos) return fail("carriage return (CRLF line endings are not allowed)");
    Parser p{line};
    p.spaces();
    if (p.eol()) continue;
    if (line[p.i] == '#') {
      ++p.i;
      p.spaces();
      const size_t kw_start = p.i;
      while (!p.eol() && line[p.i] != ' ' && line[p.i] != '\t') ++p.i;
      const std::string_view kw = line.substr(kw_start, p.i - kw_start);
      if (kw != "HELP" && kw != "TYPE") continue;  // a comment
      p.spaces();
      const std::string_view metric = p.name(true);
      if (metric.empty()) return fail(std::string(kw) + " without a valid metric name");
      if (!p.eol() && line[p.i] != ' ' && line[p.i] != '\t') return fail("invalid character in metric name after \"" + std::string(metric) + "\"");
      p.spaces();
      const std::string_view rest = line.substr(p.i);
      if (kw == "HELP") {
        if (!helps.insert(std::string(metric)).second) return fail("second HELP line for " + std::string(metric));
        continue;
      }
      static const std::set<std::string_view> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
      if (!kTypes.count(rest)) return fail("unknown metric type \"" + std::string(rest) + "\" for " + std::string(metric));
      if (types.count(metric)) return fail("second TYPE line for " + std::string(metric));
      if (sampled.count(metric)) return fail("TYPE for " + std::string(metric) + " after its samples");
      types.emplace(std::string(metric), std::string(rest));
      ++stats.families;
      continue;
    }
    const std::string_view metric = p.name(true);
    if (metric.empty()) return fail("expected a metric name, a comment or an empty line");
    std::string key(metric);
    key += '{';
    if (!p.eol() && line[p.i] == '{') {
      ++p.i;
      std::set<std::string, std::less<>> seen;
      for (;;) {
        p.spaces();
        if (!p.eol() && line[p.i] == '}') {
          ++p.i;
          break;
        }
        const std::string_view label = p.name(false);
        if (label.empty()) return fail("expected a label name in " + std::string(metric));
        if (label.size() >= 2 && label[0] == '_' && label[1] == '_') return fail("label name " + std::string(label) + " is reserved (__)");
        if (!seen.insert(std::string(label)).second) return fail("label " + std::string(label) + " appears twice");
        if (opts.forbidden_labels.count(std::string(label)))
          return fail("label " + std::string(label) + " is part of the grouping key; the gateway would overwrite it");
        p.spaces();
        if (p.eol() || line[p.i] != '=') return fail("expected = after label " + std::string(label));
        ++p.i;
        p.spaces();
        if (p.eol() || line[p.i] != '"') return fail("label value of " + std::string(label) + " must be quoted");
        ++p.i;
        std::string value;
        bool closed = false;
        while (!p.eol()) {
          const char c = line[p.i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (p.eol()) break;
            const char e = line[p.i++];
            if (e != '\\' && e != '"' && e != 'n') return fail(std::string("invalid escape \\") + e + " in label " + std::string(label));
          }
          value += c;
        }
        if (!closed) return fail("unterminated label value of " + std::string(label));
        key += std::string(label) + "=" + value + ",";
        p.spaces();
        if (!p.eol() && line[p.i] == ',') {
          ++p.i;
          continue;
        }
        p.spaces();
        if (!p.eol() && line[p.i] == '}') {
          ++p.i;
          break;
        }
        return fail("expected , or } after label " + std::string(label));
      }
    }
    if (p.eol() || (line[p.i] != ' ' && line[p.i] != '\t')) return fail("expected a value after " + std::string(metric));
    p.spaces();
    const size_t vb = p.i;
    while (!p.eol() && line[p.i] != ' ' && line[p.i] != '\t') ++p.i;
    double v;
    if (!parseFloat(line.substr(vb, p.i - vb), &v))
      return fail("value \"" + std::string(line.substr(vb, p.i - vb)) + "\" of " + std::string(metric) + " is not a number");
    p.spaces();
    if (!p.eol()) {
      const std::string_view ts = line.substr(p.i);
      if (opts.forbid_timestamps) return fail("pushed metrics must not have timestamps (the Pushgateway answers 400)");
      char* end = nullptr;
      const std::string t(ts);
      std::strtoll(t.c_str(), &end, 10);
      if (end != t.c_str() + t.size()) return fail("timestamp \"" + t + "\" is not an integer of milliseconds");
    }
    if (!series.insert(key).second) return fail("duplicate series " + std::string(metric) + " with the same labels");
    sampled.insert(std::string(familyOf(metric, types)));
    ++stats.samples;
  }
  return stats;
}

}  // namespace bpfex::metrics
