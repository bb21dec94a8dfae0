#include "daemon/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "export/http_server.h"

namespace bpfex::daemon {

using base::Error;
using base::Result;
using base::Status;

namespace {

// "\"" + std::string(s) + "\"..." trips GCC 12's -Wrestrict false positive
// (GCC PR105651) at -O3; building the quoted string by appends does not.
std::string quoted(std::string_view s) {
  std::string r;
  r.reserve(s.size() + 2);
  r += '"';
  r += s;
  r += '"';
  return r;
}

std::string where(std::string_view file, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return std::string(file) + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

Error fieldError(std::string_view file, const YAML::Node& n, std::string_view field, std::string_view why) {
  return Error::msg(where(file, n) + ": " + std::string(field) + ": " + std::string(why));
}

template <typename T>
Result<T> parseInteger(std::string_view s, T lo, T hi) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size())
    return Error::msg(quoted(s) + " is not a whole number");
  if (v < lo || v > hi)
    return Error::msg(std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]");
  return v;
}

Status checkRange(double v, double lo, double hi, std::string_view what) {
  if (v < lo || v > hi)
    return Error::msg(std::string(what) + " " + std::to_string(v) + "s is out of range [" +
                      std::to_string(lo) + "s, " + std::to_string(hi) + "s]");
  return base::okStatus();
}

struct Walker {
  std::string_view file;
  Config& cfg;

  Status scalar(const YAML::Node& n, std::string_view field, std::string& out) {
    if (!n.IsScalar()) return fieldError(file, n, field, "expected a string");
    out = n.Scalar();
    return base::okStatus();
  }
  template <typename T>
  Status integer(const YAML::Node& n, std::string_view field, T& out, T lo, T hi) {
    if (!n.IsScalar()) return fieldError(file, n, field, "expected a number");
    auto v = parseInteger<T>(n.Scalar(), lo, hi);
    if (!v) return fieldError(file, n, field, v.error().message());
    out = v.value();
    return base::okStatus();
  }
  Status duration(const YAML::Node& n, std::string_view field, double& out) {
    if (!n.IsScalar()) return fieldError(file, n, field, "expected a duration such as 5s");
    auto v = parseDuration(n.Scalar());
    if (!v) return fieldError(file, n, field, v.error().message());
    out = v.value();
    return base::okStatus();
  }

  Status walk(const YAML::Node& root) {
    if (root.IsNull()) return base::okStatus();
    if (!root.IsMap()) return fieldError(file, root, "(top level)", "expected a mapping of settings");
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      Status st;
      if (key == "listen") st = scalar(v, key, cfg.listen);
      else if (key == "metrics_path") st = scalar(v, key, cfg.metrics_path);
      else if (key == "log_level") st = scalar(v, key, cfg.log_level);
      else if (key == "tick_interval") st = duration(v, key, cfg.tick_interval_seconds);
      else if (key == "rules") st = rules(v);
      else if (key == "http") st = http(v);
      else if (key == "exposition") st = exposition(v);
      else st = fieldError(file, kv.first, key, "unknown setting (see docs/configuration.md)");
      if (!st) return st;
    }
    return base::okStatus();
  }

  Status rules(const YAML::Node& v) {
    cfg.rules.clear();
    if (v.IsScalar()) {
      cfg.rules.push_back(v.Scalar());
      return base::okStatus();
    }
    if (!v.IsSequence()) return fieldError(file, v, "rules", "expected a path or a list of paths");
    for (const auto& item : v) {
      if (!item.IsScalar()) return fieldError(file, item, "rules[]", "expected a path");
      cfg.rules.push_back(item.Scalar());
    }
    return base::okStatus();
  }

  Status http(const YAML::Node& v) {
    if (!v.IsMap()) return fieldError(file, v, "http", "expected a mapping");
    for (const auto& kv : v) {
      const std::string key = "http." + kv.first.as<std::string>();
      Status st;
      if (key == "http.threads") st = integer<unsigned>(kv.second, key, cfg.http.threads, 1, 64);
      else if (key == "http.max_connections")
        st = integer<unsigned>(kv.second, key, cfg.http.max_connections, 1, 10000);
      else if (key == "http.timeout") st = duration(kv.second, key, cfg.http.timeout_seconds);
      else st = fieldError(file, kv.first, key, "unknown setting (see docs/configuration.md)");
      if (!st) return st;
    }
    return base::okStatus();
  }

  Status exposition(const YAML::Node& v) {
    if (!v.IsMap()) return fieldError(file, v, "exposition", "expected a mapping");
    for (const auto& kv : v) {
      const std::string key = "exposition." + kv.first.as<std::string>();
      Status st;
      if (key == "exposition.gzip_level") st = integer<int>(kv.second, key, cfg.exposition.gzip_level, 1, 9);
      else if (key == "exposition.max_series")
        st = integer<size_t>(kv.second, key, cfg.exposition.max_series, 1, 100'000'000);
      else if (key == "exposition.max_series_per_family")
        st = integer<size_t>(kv.second, key, cfg.exposition.max_series_per_family, 1, 100'000'000);
      else st = fieldError(file, kv.first, key, "unknown setting (see docs/configuration.md)");
      if (!st) return st;
    }
    return base::okStatus();
  }
};

}  // namespace

Result<double> parseDuration(std::string_view s) {
  if (s.empty()) return Error::msg("empty duration");
  size_t unit_pos = s.size();
  while (unit_pos > 0 && !(s[unit_pos - 1] >= '0' && s[unit_pos - 1] <= '9') && s[unit_pos - 1] != '.') --unit_pos;
  const std::string number(s.substr(0, unit_pos));
  const std::string_view unit = s.substr(unit_pos);
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end);
  if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(v) || v < 0)
    return Error::msg(quoted(s) + " is not a duration (e.g. 5s, 250ms, 2m)");
  double mult;
  if (unit.empty() || unit == "s") mult = 1;
  else if (unit == "ms") mult = 1e-3;
  else if (unit == "m") mult = 60;
  else if (unit == "h") mult = 3600;
  else return Error::msg(quoted(s) + ": unknown unit " + quoted(unit) + " (use ms, s, m, h)");
  return v * mult;
}

Status loadConfigText(std::string_view yaml, std::string_view name, Config& cfg) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Error::msg(std::string(name) + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  Walker w{name, cfg};
  try {
    return w.walk(root);
  } catch (const YAML::Exception& e) {
    return Error::msg(std::string(name) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Status loadConfigFile(const std::string& path, Config& cfg) {
  std::ifstream in(path);
  if (!in) return Error::fromErrno(errno, "read config " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return loadConfigText(ss.str(), path, cfg);
}

EnvLookup processEnv() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Status applyEnvOverrides(Config& cfg, const EnvLookup& env) {
  auto fail = [](const char* var, const std::string& v, const std::string& why) {
    return Error::msg("environment " + std::string(var) + "=\"" + v + "\": " + why);
  };
  if (auto v = env("BPFEX_LISTEN")) cfg.listen = *v;
  if (auto v = env("BPFEX_METRICS_PATH")) cfg.metrics_path = *v;
  if (auto v = env("BPFEX_LOG_LEVEL")) cfg.log_level = *v;
  if (auto v = env("BPFEX_TICK_INTERVAL")) {
    auto d = parseDuration(*v);
    if (!d) return fail("BPFEX_TICK_INTERVAL", *v, d.error().message());
    cfg.tick_interval_seconds = d.value();
  }
  if (auto v = env("BPFEX_HTTP_TIMEOUT")) {
    auto d = parseDuration(*v);
    if (!d) return fail("BPFEX_HTTP_TIMEOUT", *v, d.error().message());
    cfg.http.timeout_seconds = d.value();
  }
  if (auto v = env("BPFEX_RULES")) {
    cfg.rules.clear();
    std::string_view s = *v;
    while (!s.empty()) {
      const size_t c = s.find(':');
      if (c != 0) cfg.rules.emplace_back(s.substr(0, c));
      if (c == std::string_view::npos) break;
      s.remove_prefix(c + 1);
    }
  }
  const struct {
    const char* var;
    std::function<Status(const std::string&)> set;
  } ints[] = {
      {"BPFEX_HTTP_THREADS", [&](const std::string& v) -> Status { auto r = parseInteger<unsigned>(v, 1, 64); if (!r) return std::move(r).error(); cfg.http.threads = r.value(); return base::okStatus(); }},
      {"BPFEX_HTTP_MAX_CONNECTIONS", [&](const std::string& v) -> Status { auto r = parseInteger<unsigned>(v, 1, 10000); if (!r) return std::move(r).error(); cfg.http.max_connections = r.value(); return base::okStatus(); }},
      {"BPFEX_GZIP_LEVEL", [&](const std::string& v) -> Status { auto r = parseInteger<int>(v, 1, 9); if (!r) return std::move(r).error(); cfg.exposition.gzip_level = r.value(); return base::okStatus(); }},
      {"BPFEX_MAX_SERIES", [&](const std::string& v) -> Status { auto r = parseInteger<size_t>(v, 1, 100'000'000); if (!r) return std::move(r).error(); cfg.exposition.max_series = r.value(); return base::okStatus(); }},
      {"BPFEX_MAX_SERIES_PER_FAMILY", [&](const std::string& v) -> Status { auto r = parseInteger<size_t>(v, 1, 100'000'000); if (!r) return std::move(r).error(); cfg.exposition.max_series_per_family = r.value(); return base::okStatus(); }},
  };
  for (const auto& i : ints)
    if (auto v = env(i.var))
      if (auto st = i.set(*v); !st) return fail(i.var, *v, st.error().message());
  return base::okStatus();
}

Status validateConfig(const Config& cfg) {
  if (auto hp = exporter::parseListenAddress(cfg.listen); !hp)
    return Error::msg("listen: " + hp.error().message());
  if (cfg.metrics_path.empty() || cfg.metrics_path.front() != '/')
    return Error::msg("metrics_path: \"" + cfg.metrics_path + "\" must start with /");
  static const char* kReserved[] = {"/", "/healthz", "/readyz", "/-/reload"};
  for (const char* r : kReserved)
    if (cfg.metrics_path == r)
      return Error::msg("metrics_path: \"" + cfg.metrics_path + "\" is used by another endpoint");
  if (auto st = checkRange(cfg.tick_interval_seconds, 0.1, 3600, "tick_interval"); !st)
    return Error::msg("tick_interval: " + st.error().message());
  if (auto st = checkRange(cfg.http.timeout_seconds, 1, 3600, "http.timeout"); !st)
    return Error::msg("http.timeout: " + st.error().message());
  if (cfg.log_level != "debug" && cfg.log_level != "info" && cfg.log_level != "warn" &&
      cfg.log_level != "error")
    return Error::msg("log_level: \"" + cfg.log_level + "\" is not one of debug, info, warn, error");
  if (cfg.http.threads < 1 || cfg.http.threads > 64) return Error::msg("http.threads: must be 1..64");
  if (cfg.http.max_connections < 1) return Error::msg("http.max_connections: must be at least 1");
  if (cfg.exposition.gzip_level < 1 || cfg.exposition.gzip_level > 9)
    return Error::msg("exposition.gzip_level: must be 1..9");
  if (cfg.exposition.max_series_per_family > cfg.exposition.max_series)
    return Error::msg("exposition.max_series_per_family: " +
                      std::to_string(cfg.exposition.max_series_per_family) +
                      " is larger than exposition.max_series (" +
                      std::to_string(cfg.exposition.max_series) + ")");
  return base::okStatus();
}

}  // namespace bpfex::daemon
