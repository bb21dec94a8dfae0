#include "engine/alert_template.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "base/clock.h"
#include "metrics/text_format.h"

namespace bpfex::engine {

using base::Error;
using base::Result;

std::string goFormatValue(double v) { return metrics::formatGoFloat(v); }

std::string humanize(double v) {
  if (v == 0 || std::isnan(v) || std::isinf(v)) return metrics::formatGoFloat(v, 4);
  static const char* kBig[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
  static const char* kSmall[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
  std::string prefix;
  if (std::fabs(v) >= 1) {
    for (const char* p : kBig) {
      if (std::fabs(v) < 1000) break;
      prefix = p;
      v /= 1000;
    }
  } else {
    for (const char* p : kSmall) {
      if (std::fabs(v) >= 1) break;
      prefix = p;
      v *= 1000;
    }
  }
  return metrics::formatGoFloat(v, 4) + prefix;
}

std::string humanize1024(double v) {
  if (std::fabs(v) <= 1 || std::isnan(v) || std::isinf(v)) return metrics::formatGoFloat(v, 4);
  static const char* kPrefixes[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"};
  std::string prefix;
  for (const char* p : kPrefixes) {
    if (std::fabs(v) < 1024) break;
    prefix = p;
    v /= 1024;
  }
  return metrics::formatGoFloat(v, 4) + prefix;
}

std::string humanizeDuration(double v) {
  if (std::isnan(v) || std::isinf(v)) return metrics::formatGoFloat(v, 4);
  if (v == 0) return metrics::formatGoFloat(v, 4) + "s";
  // Beyond int64 Go's conversion is platform-defined (MinInt64 on amd64) and
  // C++'s undefined (found by the fuzzer): print such values plainly.
  if (std::fabs(v) >= 9.2e18) return metrics::formatGoFloat(v, 4) + "s";
  if (std::fabs(v) >= 1) {
    std::string sign;
    if (v < 0) {
      sign = "-";
      v = -v;
    }
    const auto d = static_cast<int64_t>(v);
    const int64_t seconds = d % 60, minutes = (d / 60) % 60, hours = (d / 3600) % 24, days = d / 86400;
    char buf[96];
    if (days != 0)
      std::snprintf(buf, sizeof buf, "%s%lldd %lldh %lldm %llds", sign.c_str(), static_cast<long long>(days),
                    static_cast<long long>(hours), static_cast<long long>(minutes), static_cast<long long>(seconds));
    else if (hours != 0)
      std::snprintf(buf, sizeof buf, "%s%lldh %lldm %llds", sign.c_str(), static_cast<long long>(hours),
                    static_cast<long long>(minutes), static_cast<long long>(seconds));
    else if (minutes != 0)
      std::snprintf(buf, sizeof buf, "%s%lldm %llds", sign.c_str(), static_cast<long long>(minutes),
                    static_cast<long long>(seconds));
    else
      return sign + metrics::formatGoFloat(v, 4) + "s";
    return buf;
  }
  static const char* kSmall[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
  std::string prefix;
  for (const char* p : kSmall) {
    if (std::fabs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return metrics::formatGoFloat(v, 4) + prefix + "s";
}

std::string humanizePercentage(double v) { return metrics::formatGoFloat(v * 100, 4) + "%"; }

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return std::string(s);
}

const std::vector<std::string>& knownFuncs() {
  static const std::vector<std::string> f = {"humanize", "humanize1024", "humanizeDuration", "humanizePercentage",
                                             "humanizeTimestamp", "toUpper", "toLower", "title"};
  return f;
}

std::string applyFunc(const std::string& f, const std::string& in, bool numeric, double v) {
  if (f == "toUpper" || f == "toLower" || f == "title") {
    std::string s = in;
    bool start = true;
    for (char& c : s) {
      if (f == "toUpper") c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      else if (f == "toLower") c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      else {
        if (start) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        start = c == ' ';
      }
    }
    return s;
  }
  double x = v;
  if (!numeric) {
    char* end = nullptr;
    x = std::strtod(in.c_str(), &end);
    if (in.empty() || end != in.c_str() + in.size()) return "<error expanding template: " + f + ": \"" + in + "\" is not a number>";
  }
  if (f == "humanize") return humanize(x);
  if (f == "humanize1024") return humanize1024(x);
  if (f == "humanizeDuration") return humanizeDuration(x);
  if (f == "humanizePercentage") return humanizePercentage(x);
  if (f == "humanizeTimestamp") {
    if (std::isnan(x) || std::isinf(x)) return metrics::formatGoFloat(x, 4);
    // Prometheus: model.TimeFromUnixNano(int64(v * 1e9)), i.e. milliseconds
    // (truncated toward zero), printed as Go's time.String() in UTC.
    if (std::fabs(x) * 1e9 >= 9.2e18) return metrics::formatGoFloat(x, 4);
    int64_t ms = static_cast<int64_t>(x * 1e9) / 1000000;
    int64_t secs = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
      secs -= 1;
      rem += 1000;
    }
    return base::formatUtc(secs, static_cast<uint32_t>(rem * 1000000), ' ') + " +0000 UTC";
  }
  return in;
}

}  // namespace

Result<AlertTemplate> AlertTemplate::parse(std::string_view text) {
  AlertTemplate t;
  t.source_ = std::string(text);
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      t.parts_.push_back({std::string(text.substr(pos)), -1});
      break;
    }
    std::string literal(text.substr(pos, open - pos));
    size_t body_start = open + 2;
    if (body_start < text.size() && text[body_start] == '-' && body_start + 1 < text.size() &&
        text[body_start + 1] == ' ') {
      while (!literal.empty() && std::isspace(static_cast<unsigned char>(literal.back()))) literal.pop_back();
      ++body_start;
    }
    if (!literal.empty()) t.parts_.push_back({literal, -1});
    const size_t close = text.find("}}", body_start);
    if (close == std::string_view::npos) return Error::msg("template: unclosed action in \"" + t.source_ + "\"");
    std::string_view body = text.substr(body_start, close - body_start);
    bool trim_after = false;
    if (body.size() >= 2 && body.back() == '-' && body[body.size() - 2] == ' ') {
      trim_after = true;
      body.remove_suffix(1);
    }
    pos = close + 2;
    if (trim_after)
      while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    // A pipeline: operand ( | func )*
    std::vector<std::string> stages;
    size_t s = 0;
    for (;;) {
      const size_t bar = body.find('|', s);
      stages.push_back(trim(body.substr(s, bar == std::string_view::npos ? std::string_view::npos : bar - s)));
      if (bar == std::string_view::npos) break;
      s = bar + 1;
    }
    Action a;
    const std::string& op = stages[0];
    if (op == "$value" || op == ".Value") {
      a.kind = Action::kValue;
    } else if (op.rfind("$labels.", 0) == 0 || op.rfind(".Labels.", 0) == 0) {
      a.kind = Action::kLabel;
      a.arg = op.substr(op.find('.', 1) + 1);
    } else if (op.rfind("$externalLabels.", 0) == 0) {
      a.kind = Action::kExternal;
      a.arg = op.substr(16);
    } else if (op.size() >= 2 && op.front() == '"' && op.back() == '"') {
      a.kind = Action::kString;
      a.arg = op.substr(1, op.size() - 2);
    } else {
      const std::string first = op.substr(0, op.find(' '));
      for (const char* kw : {"if", "range", "with", "define", "template", "block", "end", "else"})
        if (first == kw)
          return Error::msg("template: {{ " + first + " }} is not supported by bpfex's alert templates (\"" + t.source_ + "\")");
      return Error::msg("template: cannot evaluate \"" + op + "\" in \"" + t.source_ +
                        "\" (use $value, $labels.<name>, $externalLabels.<name>, or a quoted string)");
    }
    for (size_t i = 1; i < stages.size(); ++i) {
      bool known = false;
      for (const auto& f : knownFuncs()) known = known || f == stages[i];
      if (!known) return Error::msg("template: function \"" + stages[i] + "\" not defined (\"" + t.source_ + "\")");
      a.funcs.push_back(stages[i]);
    }
    t.actions_.push_back(std::move(a));
    t.parts_.push_back({"", static_cast<int>(t.actions_.size() - 1)});
  }
  return t;
}

std::string AlertTemplate::expand(const TemplateData& d) const {
  std::string out;
  for (const Part& p : parts_) {
    if (p.action < 0) {
      out += p.text;
      continue;
    }
    const Action& a = actions_[static_cast<size_t>(p.action)];
    std::string cur;
    bool numeric = false;
    switch (a.kind) {
      case Action::kValue:
        cur = goFormatValue(d.value);
        numeric = true;
        break;
      case Action::kLabel:
        if (d.labels) {
          auto it = d.labels->find(a.arg);
          if (it != d.labels->end()) cur = it->second;  // missing: empty (missingkey=zero)
        }
        break;
      case Action::kExternal:
        if (d.external_labels) {
          auto it = d.external_labels->find(a.arg);
          if (it != d.external_labels->end()) cur = it->second;
        }
        break;
      case Action::kString: cur = a.arg; break;
    }
    for (const auto& f : a.funcs) {
      cur = applyFunc(f, cur, numeric, d.value);
      numeric = false;
    }
    out += cur;
  }
  return out;
}

}  // namespace bpfex::engine
