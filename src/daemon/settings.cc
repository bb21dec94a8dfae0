#include "daemon/settings.h"

#include <cmath>
#include <limits>

#include "base/clock.h"
#include "daemon/config.h"

namespace bpfex::daemon {

using base::Error;
using base::Status;

namespace {

constexpr size_t kMiB = size_t{1} << 20;

std::string corsOriginProblem(const Config& c) {
  const std::string& o = c.http.cors_origin;
  const bool origin = (o.rfind("http://", 0) == 0 || o.rfind("https://", 0) == 0) &&
                      o.find_first_of(" ,\t\r\n") == std::string::npos && o.back() != '/';
  if (o.empty() || o == "*" || origin) return {};
  return "\"" + o + "\" is not \"*\" or an origin such as https://grafana.example.com (scheme and host, no path)";
}

std::string logLevelProblem(const Config& c) {
  const std::string& l = c.log_level;
  if (l == "debug" || l == "info" || l == "warn" || l == "error") return {};
  return "\"" + l + "\" is not one of debug, info, warn, error";
}

std::string urlProblem(const std::string& url) {
  if (url.empty() || url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) return {};
  return "\"" + url + "\" must start with http:// or https://";
}

std::vector<Setting> makeSettings() {
  // clang-format off
  return {
    {.key = "listen", .field = +[](Config& c) -> std::string& { return c.listen; },
     .env = "BPFEX_LISTEN", .flag = "--listen", .default_text = "`127.0.0.1:9479`",
     .doc = "HTTP listen address, `host:port` or `[v6]:port`; while `http.enabled`, the host must not be empty (`0.0.0.0` or `[::]` for every address) and the port must be greater than 0",
     .env_doc = "`BPFEX_LISTEN`; `BPFEX_LISTEN_ADDRESS` and `BPFEX_LISTEN_PORT` replace one half each"},
    {.key = "http.enabled", .field = +[](Config& c) -> bool& { return c.http.enabled; },
     .env = "BPFEX_HTTP_ENABLED", .default_text = "`true`",
     .doc = "`false`: no HTTP listener; rules, alerts and push mode go on (seed 001's `metrics.enabled`)",
     .env_doc = "`BPFEX_HTTP_ENABLED` (`true`/`false`)"},
    {.key = "metrics_path", .field = +[](Config& c) -> std::string& { return c.metrics_path; },
     .env = "BPFEX_METRICS_PATH", .default_text = "`/metrics`",
     .doc = "path of the exposition; must not be a path another endpoint serves (`/`, `/health`, `/healthz`, `/readyz`, `/rules`, `/status/tick`, `/api/v1/alerts`, `/api/v1/rules`, `/-/reload`)"},
    {.key = "tick_interval", .field = +[](Config& c) -> double& { return c.tick_interval_seconds; }, .lo = 0.1, .hi = 3600,
     .env = "BPFEX_TICK_INTERVAL", .flag = "--tick-interval", .default_text = "`5s`",
     .doc = "collection interval, 100ms to 1h; `/metrics` is at most this old"},
    {.key = "rules", .env = "BPFEX_RULES", .flag = "--rules", .default_text = "(none)",
     .doc = "rule files or directories", .env_doc = "`BPFEX_RULES` (colon-separated)", .flag_doc = "`--rules` (repeatable)"},
    {.key = "include", .default_text = "(none)",
     .doc = "packages: YAML files (a path or a list, relative to this file) that add their `rules`, `rule_params` and `bpf.objects`/`bpf.maps` after this file's own; anything else in a package is an error naming its file and line, as is a BPF object name both declare. The including file's `rule_params` win. Installed: `/usr/share/bpfex/packages/vpn-router.yaml`, `/usr/share/bpfex/packages/ironpost.yaml` (docs/ironpost.md)"},
    {.key = "log_level", .field = +[](Config& c) -> std::string& { return c.log_level; },
     .env = "BPFEX_LOG_LEVEL", .flag = "--log-level", .default_text = "`info`",
     .doc = "`debug`, `info`, `warn`, `error`", .check = &logLevelProblem},
    {.key = "state_dir", .field = +[](Config& c) -> std::string& { return c.state_dir; },
     .env = "BPFEX_STATE_DIR", .flag = "--state-dir", .default_text = "(none)",
     .doc = "directory (created if missing) for the restart count (`bpfex.restarts()`) and rules' `state.read`/`state.write`; off by default so an unprivileged `bpfex run` writes nothing; the systemd unit and the DaemonSet set `/var/lib/bpfex`"},
    {.key = "http.threads", .field = +[](Config& c) -> unsigned& { return c.http.threads; }, .lo = 1, .hi = 64,
     .env = "BPFEX_HTTP_THREADS", .default_text = "`2`", .doc = "HTTP worker threads, 1..64"},
    {.key = "http.max_connections", .field = +[](Config& c) -> unsigned& { return c.http.max_connections; }, .lo = 1, .hi = 65535,
     .env = "BPFEX_HTTP_MAX_CONNECTIONS", .default_text = "`4096`",
     .doc = "simultaneous connections, 1..65535 (the open-file limit is raised to fit; docs/http.md)"},
    {.key = "http.max_connections_per_ip", .field = +[](Config& c) -> unsigned& { return c.http.max_connections_per_ip; }, .lo = 0, .hi = 65535,
     .default_text = "`0` (none)", .doc = "connections from one client address, 0..65535"},
    {.key = "http.read_timeout", .doc_key = "`http.read_timeout` (alias `http.timeout`)", .field = +[](Config& c) -> double& { return c.http.timeout_seconds; }, .lo = 1, .hi = 3600,
     .env = "BPFEX_HTTP_TIMEOUT", .default_text = "`30s`",
     .doc = "silence allowed while a request arrives and between keep-alive requests, 1s..1h", .alias = "http.timeout"},
    {.key = "http.write_timeout", .field = +[](Config& c) -> double& { return c.http.write_timeout_seconds; }, .lo = 1, .hi = 3600,
     .default_text = "`30s`", .doc = "no progress allowed while a response is sent, 1s..1h"},
    {.key = "http.max_header_bytes", .field = +[](Config& c) -> size_t& { return c.http.max_header_bytes; }, .lo = 4096, .hi = 1048576,
     .default_text = "`32768`", .doc = "request line and headers, 4096..1048576; past it `431`"},
    {.key = "http.gzip", .field = +[](Config& c) -> bool& { return c.http.gzip; },
     .default_text = "`true`", .doc = "`false`: identity bodies only"},
    {.key = "http.cors_origin", .field = +[](Config& c) -> std::string& { return c.http.cors_origin; },
     .default_text = "(off)", .doc = "`*` or an origin (`https://host[:port]`): CORS headers and preflight (docs/http.md)",
     .check = &corsOriginProblem},
    {.key = "http.health_stale_after", .field = +[](Config& c) -> double& { return c.http.health_stale_after_seconds; },
     .default_text = "`30s`, or 3 ticks when `tick_interval` is over 10s",
     .doc = "`/health` says `stale` (503) when the last collection is older; when set, it must be longer than `tick_interval`"},
    {.key = "http.enable_reload", .field = +[](Config& c) -> bool& { return c.http.enable_reload; },
     .flag = "--web.enable-lifecycle", .default_text = "`false`",
     .doc = "`POST /-/reload`, off as in Prometheus; refused on a non-loopback `listen` unless the web config has `basic_auth_users`. SIGHUP always reloads"},
    {.key = "web_config_file", .field = +[](Config& c) -> std::string& { return c.web_config_file; },
     .env = "BPFEX_WEB_CONFIG_FILE", .flag = "--web.config.file", .default_text = "(none)",
     .doc = "TLS, basic auth, headers and rate limit for every endpoint, in the Prometheus exporter-toolkit format (docs/http.md); relative to the YAML file's directory",
     .path = true},
    {.key = "exposition.gzip_level", .field = +[](Config& c) -> int& { return c.exposition.gzip_level; }, .lo = 1, .hi = 9,
     .env = "BPFEX_GZIP_LEVEL", .default_text = "`1`", .doc = "gzip level (libdeflate) for the pre-compressed copy, 1..9"},
    {.key = "exposition.max_series", .field = +[](Config& c) -> size_t& { return c.exposition.max_series; }, .lo = 1, .hi = 1e8,
     .env = "BPFEX_MAX_SERIES", .default_text = "`2000000`", .doc = "series in all families together, as Prometheus counts them: each histogram bucket, `_sum` and `_count` is one"},
    {.key = "exposition.max_series_per_family", .field = +[](Config& c) -> size_t& { return c.exposition.max_series_per_family; }, .lo = 1, .hi = 1e8,
     .env = "BPFEX_MAX_SERIES_PER_FAMILY", .default_text = "`1000000`",
     .doc = "series in one family (a family may set a lower limit)"},
    {.key = "bpf.pin_path", .field = +[](Config& c) -> std::string& { return c.bpf.pin_path; },
     .env = "BPFEX_BPF_PIN_PATH", .default_text = "`/sys/fs/bpf/bpfex`",
     .doc = "where maps declared `LIBBPF_PIN_BY_NAME` are pinned and reused across restarts; bpffs is mounted at /sys/fs/bpf if missing"},
    {.key = "bpf.pin_group", .field = +[](Config& c) -> std::string& { return c.bpf.pin_group; },
     .env = "BPFEX_BPF_PIN_GROUP", .default_text = "(none)",
     .doc = "a group whose members may map the counter regions pinned under `pin_path` (the pin directory 0710 and each region's pin 0660 for it; bpfex's user must be a member); other pins stay 0600"},
    {.key = "bpf.stats", .field = +[](Config& c) -> bool& { return c.bpf.stats; },
     .env = "BPFEX_BPF_STATS", .default_text = "`false`",
     .doc = "count program runs and run time while bpfex runs (fd-scoped `BPF_ENABLE_STATS`)", .env_doc = "`BPFEX_BPF_STATS` (0/1)"},
    {.key = "bpf.objects", .doc_key = "`bpf.objects[]`", .doc = "BPF objects to load and attach (below)"},
    {.key = "bpf.maps", .doc_key = "`bpf.maps[]`", .doc = "other daemons' maps to read (below)"},
    {.key = "bpf.ebpf_exporter", .doc_key = "`bpf.ebpf_exporter`", .doc = "cloudflare/ebpf_exporter's configurations, run as they are: `dir`, `names`, `prefix` (docs/ebpf-exporter.md)"},
    {.key = "rule_limits.time_budget", .field = +[](Config& c) -> double& { return c.rule_limits.time_budget_seconds; },
     .env = "BPFEX_RULE_TIME_BUDGET", .default_text = "a quarter of `tick_interval`",
     .doc = "time per entry into a rule's code: its top level at load (and in `bpfex check`), each run"},
    {.key = "rule_limits.memory", .field = +[](Config& c) -> size_t& { return c.rule_limits.memory_bytes; }, .lo = kMiB, .hi = 4096.0 * kMiB,
     .env = "BPFEX_RULE_MEMORY", .default_text = "`67108864`", .doc = "bytes per rule: its Lua state and its windows"},
    {.key = "rule_limits.max_families", .field = +[](Config& c) -> size_t& { return c.rule_limits.max_families; }, .lo = 1, .hi = 100000,
     .default_text = "`1000`", .doc = "metric families (and, separately, alerts) one rule may declare, 1..100000"},
    {.key = "rule_limits.max_families_total", .field = +[](Config& c) -> size_t& { return c.rule_limits.max_families_total; }, .lo = 1, .hi = 1000000,
     .default_text = "`10000`", .doc = "metric families all rules together may declare, 1..1000000"},
    {.key = "rule_params", .doc_key = "`rule_params.<name>`", .doc = "values rules read as `params.<name>`"},
    {.key = "alerting", .doc_key = "`alerting.*`", .doc = "Alertmanager delivery (below)"},
    {.key = "alerting.alertmanagers", .table = false},
    {.key = "alerting.resend_delay", .field = +[](Config& c) -> double& { return c.alerting.resend_delay_seconds; }, .table = false},
    {.key = "alerting.timeout", .field = +[](Config& c) -> double& { return c.alerting.timeout_seconds; }, .table = false},
    {.key = "alerting.for_grace_period", .field = +[](Config& c) -> double& { return c.alerting.for_grace_period_seconds; }, .table = false},
    {.key = "alerting.for_outage_tolerance", .field = +[](Config& c) -> double& { return c.alerting.for_outage_tolerance_seconds; }, .table = false},
    {.key = "alerting.external_labels", .table = false},
    {.key = "alerting.external_url", .field = +[](Config& c) -> std::string& { return c.alerting.external_url; }, .table = false,
     .check = +[](const Config& c) { return urlProblem(c.alerting.external_url); }},
    {.key = "alerting.username", .field = +[](Config& c) -> std::string& { return c.alerting.username; }, .table = false},
    {.key = "alerting.ca_file", .field = +[](Config& c) -> std::string& { return c.alerting.ca_file; }, .table = false},
    {.key = "alerting.cert_file", .field = +[](Config& c) -> std::string& { return c.alerting.cert_file; }, .table = false},
    {.key = "alerting.key_file", .field = +[](Config& c) -> std::string& { return c.alerting.key_file; }, .table = false},
    {.key = "alerting.insecure", .field = +[](Config& c) -> bool& { return c.alerting.insecure; }, .table = false},
    {.key = "remote_write", .default_text = "(none)",
     .doc = "endpoints that receive every tick by Prometheus remote write 1.0, in Prometheus' shape: `url`, `name`, `remote_timeout`, `headers`, `basic_auth`, `authorization`, `tls_config`, `queue_config` (docs/remote-write.md)"},
    {.key = "external_labels", .default_text = "(none)",
     .doc = "labels added to every series remote write sends (a series' own label of that name wins) and to alerts; `${NAME}` in a value is that environment variable (docs/remote-write.md)"},
    {.key = "remote_write_memory", .field = +[](Config& c) -> size_t& { return c.remote_write_memory_bytes; }, .lo = kMiB, .hi = 65536.0 * kMiB,
     .env = "BPFEX_REMOTE_WRITE_MEMORY", .default_text = "`268435456`",
     .doc = "bytes of queued ticks over every remote write endpoint, 1 MiB .. 64 GiB; past it the oldest tick not yet being sent is dropped and counted"},
    {.key = "push", .doc_key = "`push.*`", .doc = "the daemon's push mode (below); `bpfex push --config` takes its section as defaults"},
    {.key = "push.gateway", .field = +[](Config& c) -> std::string& { return c.push.gateway; }, .push_flag = "--gateway", .doc = "Pushgateway URL, e.g. http://127.0.0.1:9091 (bpfex push: also $BPFEX_PUSH_GATEWAY)", .table = false,
     .check = +[](const Config& c) { return urlProblem(c.push.gateway); }},
    {.key = "push.job", .field = +[](Config& c) -> std::string& { return c.push.job; }, .table = false},
    {.key = "push.labels", .table = false},
    {.key = "push.interval", .field = +[](Config& c) -> double& { return c.push.interval_seconds; }, .table = false},
    {.key = "push.families", .table = false},
    {.key = "push.on_shutdown", .field = +[](Config& c) -> bool& { return c.push.on_shutdown; }, .table = false},
    {.key = "push.timeout", .field = +[](Config& c) -> double& { return c.push.timeout_seconds; }, .push_flag = "--timeout", .doc = "per-request timeout (default 10s)", .table = false},
    {.key = "push.retries", .field = +[](Config& c) -> int& { return c.push.retries; }, .lo = 0, .hi = 10, .push_flag = "--retries", .doc = "retries on connection errors, timeouts and 5xx (default 2)", .table = false},
    {.key = "push.username", .field = +[](Config& c) -> std::string& { return c.push.username; }, .push_flag = "--user", .doc = "basic auth user (password: $BPFEX_PUSH_PASSWORD)", .table = false},
    {.key = "push.ca_file", .field = +[](Config& c) -> std::string& { return c.push.ca_file; }, .push_flag = "--ca-file", .doc = "TLS CA bundle", .table = false},
    {.key = "push.cert_file", .field = +[](Config& c) -> std::string& { return c.push.cert_file; }, .push_flag = "--cert-file", .doc = "TLS client certificate", .table = false},
    {.key = "push.key_file", .field = +[](Config& c) -> std::string& { return c.push.key_file; }, .push_flag = "--key-file", .doc = "TLS client key", .table = false},
    {.key = "push.insecure", .field = +[](Config& c) -> bool& { return c.push.insecure; }, .push_flag = "--insecure", .doc = "do not verify the gateway's TLS certificate", .table = false},
  };
  // clang-format on
}

template <typename T>
Status parseWhole(std::string_view text, const Setting& s, T& out) {
  const bool ranged = s.lo != 0 || s.hi != 0;
  auto v = parseWholeNumber<T>(text, ranged ? static_cast<T>(s.lo) : std::numeric_limits<T>::lowest(),
                               ranged ? static_cast<T>(s.hi) : std::numeric_limits<T>::max());
  if (!v) return std::move(v).error();
  out = v.value();
  return base::okStatus();
}

}  // namespace

const std::vector<Setting>& settings() {
  static const std::vector<Setting> kSettings = makeSettings();
  return kSettings;
}

const Setting* findSetting(std::string_view key) {
  for (const Setting& s : settings())
    if (s.key == key || (!s.alias.empty() && s.alias == key)) return &s;
  return nullptr;
}

Status parseSetting(const Setting& s, std::string_view text, Config& cfg) {
  return std::visit(
      [&](auto ref) -> Status {
        using Ref = decltype(ref);
        if constexpr (std::is_same_v<Ref, std::monostate>) {
          return Error::msg("not a single value");
        } else {
          auto& out = ref(cfg);
          using T = std::remove_reference_t<decltype(out)>;
          if constexpr (std::is_same_v<T, std::string>) {
            out = std::string(text);
            return base::okStatus();
          } else if constexpr (std::is_same_v<T, bool>) {
            if (text == "true" || text == "1") out = true;
            else if (text == "false" || text == "0") out = false;
            else return Error::msg("expected true or false");
            return base::okStatus();
          } else if constexpr (std::is_same_v<T, double>) {
            auto d = base::parseDuration(text);
            if (!d) return std::move(d).error();
            out = d.value();
            return base::okStatus();
          } else {
            return parseWhole(text, s, out);
          }
        }
      },
      s.field);
}

std::string rangeProblem(const Setting& s, Config& cfg) {
  return std::visit(
      [&](auto ref) -> std::string {
        using Ref = decltype(ref);
        if constexpr (std::is_same_v<Ref, std::monostate>) {
          return {};
        } else {
          const auto& v = ref(cfg);
          using T = std::remove_cvref_t<decltype(v)>;
          if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
            if (s.lo == 0 && s.hi == 0) return {};
            const auto d = static_cast<double>(v);
            if (d >= s.lo && d <= s.hi) return {};
            if constexpr (std::is_same_v<T, double>)
              return base::formatSeconds(d) + " is out of range [" + base::formatSeconds(s.lo) + ", " +
                     base::formatSeconds(s.hi) + "]";
            else
              return std::to_string(v) + " is out of range [" + std::to_string(static_cast<T>(s.lo)) + ", " +
                     std::to_string(static_cast<T>(s.hi)) + "]";
          } else {
            return {};
          }
        }
      },
      s.field);
}

std::string settingsTable() {
  std::string t = "| key | default | environment | flag | meaning |\n|---|---|---|---|---|\n";
  auto code = [](std::string_view s) { return s.empty() ? std::string() : "`" + std::string(s) + "`"; };
  for (const Setting& s : settings()) {
    if (!s.table) continue;
    const std::string key = !s.doc_key.empty() ? std::string(s.doc_key) : code(s.key);
    const std::string env = !s.env_doc.empty() ? std::string(s.env_doc) : code(s.env);
    const std::string flag = !s.flag_doc.empty() ? std::string(s.flag_doc) : code(s.flag);
    t += "| " + key + " | " + std::string(s.default_text) + " | " + env + " | " + flag + " | " + std::string(s.doc) + " |\n";
  }
  // Empty cells are written "| |" in the docs.
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    out += t[i];
    if (t[i] == '|' && i + 2 < t.size() && t[i + 1] == ' ' && t[i + 2] == ' ') ++i;
  }
  return out;
}

}  // namespace bpfex::daemon
