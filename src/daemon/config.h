// Config: the daemon's settings as a plain struct with documented defaults
// (docs/configuration.md). Loading is split into steps, each of which names
// the field (and, for files, file:line:column) of anything it rejects:
//   defaults -> loadConfigFile -> applyEnvOverrides -> (CLI flags) -> validateConfig
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "engine/bpf_runtime.h"
#include "export/push_client.h"
#include "export/remote_write.h"

namespace bpfex::daemon {

// 9479: in Prometheus's exporter port range (9100-9999); not the port of any
// exporter we know of (ebpf_exporter is 9435, node_exporter 9100).
inline constexpr std::string_view kDefaultListen = "127.0.0.1:9479";

struct Config {
  // Where each setting got its value, for validation errors: "file:line:col"
  // from a YAML file, "environment BPFEX_X", or a flag ("--tick-interval").
  std::map<std::string, std::string> origins;
  std::string listen{kDefaultListen};   // listen: host:port
  std::string metrics_path = "/metrics";  // metrics_path
  double tick_interval_seconds = 5.0;     // tick_interval: 100ms .. 1h
  std::vector<std::string> rules;         // rules: files or directories of *.lua
  std::map<std::string, std::string> rule_params;  // rule_params: read by rules as params.<name>
  std::string log_level = "info";         // log_level: debug|info|warn|error
  std::string state_dir;                  // state_dir: restart count, rules' state.*; empty: none
  struct RuleLimits {
    double time_budget_seconds = 0;       // rule_limits.time_budget; 0: a quarter of tick_interval
    size_t memory_bytes = 64u << 20;      // rule_limits.memory (bytes), 1 MiB .. 4 GiB
    size_t max_families = 1000;           // rule_limits.max_families: per rule, 1..100000
    size_t max_families_total = 10000;    // rule_limits.max_families_total: all rules, 1..1000000
  } rule_limits;
  // web_config_file (--web.config.file): TLS, basic auth, headers and rate
  // limit for every endpoint, in exporter-toolkit's format; "" for none.
  // Relative in the YAML: against the YAML file's directory.
  std::string web_config_file;
  struct Http {
    // http.enabled: false runs without a listener (collect, push, alert).
    bool enabled = true;
    // http.enable_reload (--web.enable-lifecycle): POST /-/reload. Off by
    // default, as in Prometheus; refused on a routable address unless the
    // web config asks for basic auth. SIGHUP always reloads.
    bool enable_reload = false;
    unsigned threads = 2;              // http.threads: 1..64
    unsigned max_connections = 4096;   // http.max_connections: 1..65535
    unsigned max_connections_per_ip = 0;  // http.max_connections_per_ip: 0 (none)..65535
    double timeout_seconds = 30;       // http.read_timeout (alias http.timeout): silence while a request arrives, 1s..1h
    double write_timeout_seconds = 30;  // http.write_timeout: no progress while a response is sent, 1s..1h
    size_t max_header_bytes = 32768;   // http.max_header_bytes: request line and headers, 4 KiB..1 MiB
    bool gzip = true;                  // http.gzip: false serves identity bodies only
    std::string cors_origin;           // http.cors_origin: "" (off), "*" or an http(s) origin
    // http.health_stale_after: /health is "stale" past it; 0 (default):
    // 30 s (the seed's bound), or 3 ticks when the tick is longer than 10 s.
    double health_stale_after_seconds = 0;
  } http;
  struct Exposition {
    int gzip_level = 1;                       // exposition.gzip_level: 1..9
    size_t max_series = 2'000'000;            // exposition.max_series
    size_t max_series_per_family = 1'000'000;  // exposition.max_series_per_family
  } exposition;
  engine::BpfConfig bpf;  // bpf: pin_path, stats, objects[], maps[] (docs/configuration.md)
  // push: the daemon's optional periodic push (docs/configuration.md). Off
  // unless push.gateway is set.
  // alerting: where alerts go (docs/configuration.md). Off without alertmanagers.
  struct Alerting {
    std::vector<std::string> alertmanagers;
    double resend_delay_seconds = 60;
    double timeout_seconds = 10;
    double for_grace_period_seconds = 600;       // for-state restore after a restart (needs state_dir)
    double for_outage_tolerance_seconds = 3600;
    std::map<std::string, std::string> external_labels;
    std::string external_url;  // generatorURL base; default http://<listen>
    // Toward the Alertmanagers: basic auth (password from
    // $BPFEX_ALERTING_PASSWORD) and TLS, as for push.
    std::string username, ca_file, cert_file, key_file;
    bool insecure = false;
  } alerting;
  // external_labels: on every series remote write sends, and on alerts
  // (alerting.external_labels, where both name a label, wins for alerts).
  std::map<std::string, std::string> external_labels;
  // remote_write: the endpoints every tick goes to (docs/remote-write.md).
  std::vector<exporter::RemoteWriteOptions> remote_write;
  size_t remote_write_memory_bytes = 256u << 20;  // remote_write_memory: queued ticks, all endpoints
  struct Push {
    std::string gateway;
    std::string job = "bpfex";
    std::vector<std::pair<std::string, std::string>> labels;
    double interval_seconds = 60;
    std::vector<std::string> families;
    bool on_shutdown = true;
    double timeout_seconds = 10;
    int retries = 2;
    std::string username, ca_file, cert_file, key_file;
    bool insecure = false;
  } push;
};

// Parses a YAML file over `cfg` (only the keys present change). Unknown keys
// are errors, so a typo never silently falls back to a default.
base::Status loadConfigFile(const std::string& path, Config& cfg);
base::Status loadConfigText(std::string_view yaml, std::string_view name, Config& cfg);

// BPFEX_LISTEN, BPFEX_LISTEN_ADDRESS and BPFEX_LISTEN_PORT (one half of
// listen each, after BPFEX_LISTEN), BPFEX_HTTP_ENABLED (true/false),
// BPFEX_METRICS_PATH, BPFEX_TICK_INTERVAL, BPFEX_RULES (colon-
// separated), BPFEX_LOG_LEVEL, BPFEX_HTTP_THREADS, BPFEX_HTTP_MAX_CONNECTIONS,
// BPFEX_HTTP_TIMEOUT, BPFEX_GZIP_LEVEL, BPFEX_MAX_SERIES,
// BPFEX_MAX_SERIES_PER_FAMILY, BPFEX_BPF_PIN_PATH, BPFEX_BPF_STATS (0/1),
// BPFEX_RULE_TIME_BUDGET, BPFEX_RULE_MEMORY. An invalid value is an error naming the variable.
using EnvLookup = std::function<std::optional<std::string>(const char*)>;
base::Status applyEnvOverrides(Config& cfg, const EnvLookup& env);
EnvLookup processEnv();

// The push target of a push section (the daemon's push mode and bpfex
// push): the password from $BPFEX_PUSH_PASSWORD.
exporter::PushTarget pushTargetOf(const Config::Push& p);

// The time budget in force: the configured one, or a quarter of the tick.
double ruleTimeBudget(const Config& cfg);
// /health's staleness bound in force (http.health_stale_after, or its default).
double healthStaleAfter(const Config& cfg);

// Range and consistency checks; the error names the field.
base::Status validateConfig(const Config& cfg);

// "5s", "250ms", "2m", "1h", or a plain number of seconds.
using base::parseDuration;  // "5s", "250ms", "2m", "1h", "1d"; base/clock.h

}  // namespace bpfex::daemon
