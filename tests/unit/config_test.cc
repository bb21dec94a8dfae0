#include "daemon/config.h"

#include "daemon/endpoints.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

namespace bpfex::daemon {
namespace {

std::string loadError(std::string_view yaml) {
  Config cfg;
  auto st = loadConfigText(yaml, "bpfex.yaml", cfg);
  if (st.ok()) st = validateConfig(cfg);
  return st.ok() ? "" : st.error().message();
}

EnvLookup envOf(std::map<std::string, std::string> m) {
  return [m](const char* k) -> std::optional<std::string> {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

TEST(Config, DefaultsAreValid) {
  Config cfg;
  EXPECT_TRUE(validateConfig(cfg).ok());
  EXPECT_EQ(cfg.listen, "127.0.0.1:9479");
  EXPECT_EQ(cfg.tick_interval_seconds, 5.0);
}

TEST(Config, ParsesEverySetting) {
  Config cfg;
  ASSERT_TRUE(loadConfigText(R"(
listen: 127.0.0.1:9999
metrics_path: /m
tick_interval: 250ms
rules: [rules/a.lua, rules/dir]
log_level: debug
http:
  threads: 4
  max_connections: 10
  timeout: 1m
exposition:
  gzip_level: 6
  max_series: 1000
  max_series_per_family: 100
)", "x.yaml", cfg).ok());
  EXPECT_EQ(cfg.listen, "127.0.0.1:9999");
  EXPECT_EQ(cfg.metrics_path, "/m");
  EXPECT_DOUBLE_EQ(cfg.tick_interval_seconds, 0.25);
  EXPECT_EQ(cfg.rules, (std::vector<std::string>{"rules/a.lua", "rules/dir"}));
  EXPECT_EQ(cfg.http.threads, 4u);
  EXPECT_EQ(cfg.http.timeout_seconds, 60);
  EXPECT_EQ(cfg.exposition.gzip_level, 6);
  EXPECT_EQ(cfg.exposition.max_series_per_family, 100u);
  EXPECT_TRUE(validateConfig(cfg).ok());
}

TEST(Config, ErrorsNameFileLineAndField) {
  EXPECT_EQ(loadError("listen: 127.0.0.1:1\nhttp:\n  threads: 0\n"),
            "bpfex.yaml:3:12: http.threads: 0 is out of range [1, 64]");
  EXPECT_EQ(loadError("tick_interval: fast\n"),
            "bpfex.yaml:1:16: tick_interval: \"fast\" is not a duration (e.g. 5s, 250ms, 2m)");
  EXPECT_EQ(loadError("listne: x\n"), "bpfex.yaml:1:1: listne: unknown setting (see docs/configuration.md)");
  EXPECT_EQ(loadError("exposition:\n  gzip_level: 11\n"),
            "bpfex.yaml:2:15: exposition.gzip_level: 11 is out of range [1, 9]");
  EXPECT_NE(loadError("listen: [unclosed\n").find("bpfex.yaml:"), std::string::npos);
  EXPECT_EQ(loadError("listen: localhost\n"), "listen: listen address \"localhost\" is not host:port");
  EXPECT_EQ(loadError("log_level: loud\n"),
            "bpfex.yaml:1:12: log_level: \"loud\" is not one of debug, info, warn, error");
  EXPECT_EQ(loadError("metrics_path: /healthz\n"),
            "bpfex.yaml:1:15: metrics_path: \"/healthz\" is served by another endpoint");
  EXPECT_EQ(loadError("tick_interval: 10ms\n").substr(0, 31), "bpfex.yaml:1:16: tick_interval:");
}

// metrics_path cannot shadow any endpoint the daemon serves (the list the
// route table is checked against at start): each is refused at its line.
// `metrics_path: /rules` used to be accepted and hid /rules.
TEST(Config, MetricsPathCannotShadowAnEndpoint) {
  for (std::string_view path : kEndpoints) {
    const std::string err = loadError("tick_interval: 5s\nmetrics_path: " + std::string(path) + "\n");
    EXPECT_EQ(err, "bpfex.yaml:2:15: metrics_path: \"" + std::string(path) + "\" is served by another endpoint")
        << path;
  }
  EXPECT_EQ(loadError("metrics_path: /metrics2\n"), "");
}

// A value valid to parse but out of range names where it was set: the
// file's line, the variable, or the flag.
TEST(Config, RangeErrorsNameWhereTheValueWasSet) {
  EXPECT_EQ(loadError("\ntick_interval: 50ms\n"), "bpfex.yaml:2:16: tick_interval: 50ms is out of range [100ms, 3600s]");
  Config cfg;
  ASSERT_TRUE(applyEnvOverrides(cfg, envOf({{"BPFEX_TICK_INTERVAL", "50ms"}})).ok());
  auto st = validateConfig(cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "environment BPFEX_TICK_INTERVAL: tick_interval: 50ms is out of range [100ms, 3600s]");
}

TEST(Config, EnvironmentOverridesTheFile) {
  Config cfg;
  ASSERT_TRUE(loadConfigText("listen: 127.0.0.1:1\nrules: [a.lua]\n", "x", cfg).ok());
  ASSERT_TRUE(applyEnvOverrides(cfg, envOf({{"BPFEX_LISTEN", "127.0.0.1:2"},
                                            {"BPFEX_RULES", "b.lua:c"},
                                            {"BPFEX_TICK_INTERVAL", "2s"},
                                            {"BPFEX_GZIP_LEVEL", "9"}}))
                  .ok());
  EXPECT_EQ(cfg.listen, "127.0.0.1:2");
  EXPECT_EQ(cfg.rules, (std::vector<std::string>{"b.lua", "c"}));
  EXPECT_EQ(cfg.tick_interval_seconds, 2);
  EXPECT_EQ(cfg.exposition.gzip_level, 9);
}

TEST(Config, InvalidEnvironmentNamesTheVariable) {
  Config cfg;
  auto st = applyEnvOverrides(cfg, envOf({{"BPFEX_HTTP_THREADS", "many"}}));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(),
            "environment BPFEX_HTTP_THREADS=\"many\": \"many\" is not a whole number");
  st = applyEnvOverrides(cfg, envOf({{"BPFEX_TICK_INTERVAL", "5 parsecs"}}));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("BPFEX_TICK_INTERVAL"), std::string::npos);
}

// Seed 001's listener contract: an address, a port above 0, a path from /,
// each error naming its field; with http.enabled false none of it applies.
TEST(Config, ListenerContract) {
  EXPECT_EQ(loadError("listen: 0.0.0.0:0\n"), "listen: \"0.0.0.0:0\": the port must be greater than 0");
  EXPECT_EQ(loadError("listen: \":9100\"\n"),
            "listen: \":9100\": the address must not be empty (0.0.0.0 or [::] for every address)");
  EXPECT_EQ(loadError("listen: \"[]:9100\"\n"),
            "listen: \"[]:9100\": the address must not be empty (0.0.0.0 or [::] for every address)");
  EXPECT_EQ(loadError("metrics_path: metrics\n"), "bpfex.yaml:1:15: metrics_path: \"metrics\" must start with /");
  EXPECT_EQ(loadError("listen: \"[::]:9100\"\n"), "");
  EXPECT_EQ(loadError("listen: 0.0.0.0:0\nhttp: {enabled: false}\n"), "");
  EXPECT_NE(loadError("http: {enabled: maybe}\n").find("http.enabled"), std::string::npos);
}

TEST(Config, ListenHalvesFromTheEnvironment) {
  Config cfg;
  ASSERT_TRUE(loadConfigText("listen: 127.0.0.1:9479\n", "x", cfg).ok());
  ASSERT_TRUE(applyEnvOverrides(cfg, envOf({{"BPFEX_LISTEN_PORT", "9100"}})).ok());
  EXPECT_EQ(cfg.listen, "127.0.0.1:9100");
  ASSERT_TRUE(applyEnvOverrides(cfg, envOf({{"BPFEX_LISTEN_ADDRESS", "0.0.0.0"}})).ok());
  EXPECT_EQ(cfg.listen, "0.0.0.0:9100");
  ASSERT_TRUE(applyEnvOverrides(cfg, envOf({{"BPFEX_LISTEN_ADDRESS", "::1"}, {"BPFEX_LISTEN_PORT", "9200"}})).ok());
  EXPECT_EQ(cfg.listen, "[::1]:9200");
  EXPECT_TRUE(validateConfig(cfg).ok());
  ASSERT_TRUE(applyEnvOverrides(cfg, envOf({{"BPFEX_HTTP_ENABLED", "false"}})).ok());
  EXPECT_FALSE(cfg.http.enabled);

  auto st = applyEnvOverrides(cfg, envOf({{"BPFEX_LISTEN_PORT", "0"}}));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "environment BPFEX_LISTEN_PORT=\"0\": must be a port from 1 to 65535");
  st = applyEnvOverrides(cfg, envOf({{"BPFEX_LISTEN_ADDRESS", ""}}));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("BPFEX_LISTEN_ADDRESS"), std::string::npos);
  st = applyEnvOverrides(cfg, envOf({{"BPFEX_HTTP_ENABLED", "yes please"}}));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("BPFEX_HTTP_ENABLED"), std::string::npos);
}

TEST(Config, InitEntriesMayLeaveOutTheValue) {
  Config cfg;
  ASSERT_TRUE(loadConfigText(R"(
bpf:
  objects:
    - name: ironpost
      bundled: ironpost_xdp
      init:
        - map: ironpost_blocklist
          entries:
            - {key: {prefixlen: 32, addr: 10.0.0.9}}
)", "x.yaml", cfg).ok());
  ASSERT_EQ(cfg.bpf.objects.at(0).init.at(0).entries.size(), 1u);
  EXPECT_TRUE(cfg.bpf.objects[0].init[0].entries[0].value.empty());
  // A misspelt value is not silently a zero value.
  EXPECT_EQ(loadError("bpf:\n  objects:\n    - name: a\n      bundled: ironpost_xdp\n      init:\n"
                      "        - map: m\n          entries:\n            - {key: 1, vaule: 2}\n"),
            "bpfex.yaml:8:24: bpf.objects[0].init[0].entries[0].vaule: unknown setting (key, value)");
}

TEST(Config, Durations) {
  EXPECT_EQ(parseDuration("5s").value(), 5);
  EXPECT_EQ(parseDuration("5").value(), 5);
  EXPECT_DOUBLE_EQ(parseDuration("1.5m").value(), 90);
  EXPECT_DOUBLE_EQ(parseDuration("250ms").value(), 0.25);
  EXPECT_EQ(parseDuration("1h").value(), 3600);
  EXPECT_FALSE(parseDuration("").ok());
  EXPECT_FALSE(parseDuration("-1s").ok());
  EXPECT_EQ(parseDuration("3d").value(), 3 * 86400);  // one parser everywhere: alerts took d, config did not
  EXPECT_FALSE(parseDuration("3w").ok());
  EXPECT_FALSE(parseDuration("1e999s").ok());
}

}  // namespace
}  // namespace bpfex::daemon

namespace bpfex::daemon {
namespace {

TEST(Config, InterfacePatternsForXdpAndTc) {
  Config cfg;
  ASSERT_TRUE(loadConfigText(R"(
bpf:
  objects:
    - name: t
      bundled: iface_traffic
      attach:
        - {program: bpfex_tc_ingress, type: tc_ingress, interfaces: all}
        - {program: bpfex_tc_egress, type: tc_egress, interfaces: {match: "veth.*|eth0", exclude: "veth9"}, netns: n}
)", "x", cfg).ok());
  const auto& a = cfg.bpf.objects.at(0).attach;
  EXPECT_EQ(a.at(0).match, ".*");
  EXPECT_TRUE(a.at(0).dynamic());
  EXPECT_EQ(a.at(1).match, "veth.*|eth0");
  EXPECT_EQ(a.at(1).exclude, "veth9");
  auto err = [](const std::string& attach) {
    Config c;
    auto st = loadConfigText("bpf:\n  objects:\n    - name: t\n      bundled: iface_traffic\n      attach:\n        - " +
                                 attach + "\n", "x.yaml", c);
    return st.ok() ? std::string() : st.error().message();
  };
  EXPECT_NE(err("{program: p, type: tc_ingress, interfaces: \"veth[\"}").find(
                "x.yaml:6:54: bpf.objects[0].attach[0].interfaces: \"veth[\" is not a regular expression"),
            std::string::npos) << err("{program: p, type: tc_ingress, interfaces: \"veth[\"}");
  EXPECT_NE(err("{program: p, type: tc_ingress, interface: eth0, interfaces: all}").find("not both"), std::string::npos);
  EXPECT_NE(err("{program: p, type: kprobe, interfaces: all}").find("only xdp and tc"), std::string::npos);
  EXPECT_NE(err("{program: p, type: tc_ingress, interfaces: {match: x, other: y}}").find("unknown setting (match, exclude)"),
            std::string::npos);
}

}  // namespace
}  // namespace bpfex::daemon

namespace bpfex::daemon {
namespace {

// Tracing targets are checked when the configuration is read, so `bpfex
// check` names the line; what exists on the host is the attach's business.
TEST(Config, TracingTargetsAreCheckedAtTheirLine) {
  auto err = [](const std::string& attach) {
    Config c;
    auto st = loadConfigText("bpf:\n  objects:\n    - name: t\n      file: t.bpf.o\n      attach:\n        - " +
                                 attach + "\n", "x.yaml", c);
    return st.ok() ? std::string() : st.error().message();
  };
  for (const char* ok : {"{program: p, type: kprobe, target: do_sys_openat2}",
                         "{program: p, type: tp_btf, target: sys_enter}", "{program: p, type: raw_tp, target: sys_enter}",
                         "{program: p, type: fentry}", "{program: p, type: uprobe, target: \"libc.so.6:malloc\"}",
                         "{program: p, type: usdt, target: \"/usr/bin/x:prov:probe\"}",
                         "{program: p, type: perf_event, target: \"type=software,config=cpu-clock,frequency=99\"}",
                         "{program: p, type: perf_event, target: \"type=0,config=0x1,period=100000\"}"})
    EXPECT_EQ(err(ok), "") << ok;
  const std::pair<const char*, const char*> bad[] = {
      {"{program: p, type: kprobe}", "x.yaml:6:11: bpf.objects[0].attach[0].target: attach type kprobe needs a target"},
      {"{program: p, type: tracepoint, target: sched_switch}", "must be category:name"},
      {"{program: p, type: uprobe, target: /bin/bash}", "target \"/bin/bash\" must be BINARY:function"},
      {"{program: p, type: usdt, target: \"/bin/x:probe\"}", "must be BINARY:provider:name"},
      {"{program: p, type: perf_event, target: \"type=software,config=cpu-clock\"}", "one of frequency= and period="},
      {"{program: p, type: perf_event, target: \"type=software,config=cpu-clok,period=1\"}",
       "config \"cpu-clok\": not a number or a known event name"},
      {"{program: p, type: perf_event, target: \"type=soft,config=0,period=1\"}", "perf_event type \"soft\""},
      {"{program: p, type: perf_event, target: \"type=1,config=0,period=1,cpu=3\"}", "item \"cpu\" is not one of"},
      {"{program: p, type: kprobes, target: x}", "\"kprobes\" is not one of"},
  };
  for (const auto& [attach, want] : bad) EXPECT_NE(err(attach).find(want), std::string::npos) << attach << " -> " << err(attach);
}

TEST(Config, HealthStaleAfterFollowsALongTick) {
  Config cfg;
  EXPECT_EQ(healthStaleAfter(cfg), 30);  // the seed's bound at the default 5 s tick
  cfg.tick_interval_seconds = 3600;
  EXPECT_TRUE(validateConfig(cfg).ok());  // the default never contradicts the tick
  EXPECT_EQ(healthStaleAfter(cfg), 3 * 3600);
  cfg.http.health_stale_after_seconds = 60;  // set: it must be longer than the tick
  ASSERT_FALSE(validateConfig(cfg).ok());
  EXPECT_NE(validateConfig(cfg).error().message().find("http.health_stale_after: 60s must be longer than tick_interval (3600s)"), std::string::npos)
      << validateConfig(cfg).error().message();
}

}  // namespace
}  // namespace bpfex::daemon

#include <filesystem>
#include <fstream>

namespace bpfex::daemon {
namespace {

TEST(Config, IncludeAddsAPackagesRulesAndObjects) {
  const auto dir = std::filesystem::temp_directory_path() / ("bpfex-include-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  write("pkg.yaml", "rules: [/p/a.lua, /p/b.lua]\nrule_params: {x: from-pkg, y: pkg}\n"
                    "bpf:\n  objects:\n    - {name: vpn, bundled: vpn_router}\n");
  const std::string main = write("main.yaml", "include: pkg.yaml\nrules: [/site/rules]\nrule_params: {x: mine}\n"
                                              "bpf:\n  objects:\n    - {name: traffic, bundled: iface_traffic}\n");
  Config cfg;
  ASSERT_TRUE(loadConfigFile(main, cfg).ok());
  EXPECT_EQ(cfg.rules, (std::vector<std::string>{"/site/rules", "/p/a.lua", "/p/b.lua"}));  // the file's own first
  ASSERT_EQ(cfg.bpf.objects.size(), 2u);
  EXPECT_EQ(cfg.bpf.objects[1].name, "vpn");
  EXPECT_EQ(cfg.rule_params.at("x"), "mine");  // the including file wins
  EXPECT_EQ(cfg.rule_params.at("y"), "pkg");

  auto err = [&](const std::string& pkg_text, const std::string& main_text = "include: bad.yaml\n") {
    write("bad.yaml", pkg_text);
    Config c;
    auto st = loadConfigFile(write("m.yaml", main_text), c);
    return st.ok() ? std::string() : st.error().message();
  };
  EXPECT_NE(err("listen: 0.0.0.0:1\n").find("bad.yaml:1:1: listen: not for a package"), std::string::npos)
      << err("listen: 0.0.0.0:1\n");
  EXPECT_NE(err("bpf:\n  pin_path: /x\n").find("bad.yaml:2:3: bpf.pin_path: not for a package"), std::string::npos);
  EXPECT_NE(err("include: pkg.yaml\n").find("bad.yaml:1:1: include: not for a package"), std::string::npos);
  EXPECT_NE(err("bpf:\n  objects:\n    - {name: vpn, bundled: vpn_router}\n",
                "include: bad.yaml\nbpf:\n  objects:\n    - {name: vpn, bundled: vpn_router}\n")
                .find("declares a BPF object vpn this file has too"),
            std::string::npos);
  EXPECT_NE(err("", "include: /dev/zero\n").find("/dev/zero is not a readable regular file"), std::string::npos);
  EXPECT_NE(err("", "include: [missing.yaml]\n").find("m.yaml:1:11: include: "), std::string::npos)
      << err("", "include: [missing.yaml]\n");
  EXPECT_NE(err("rules: [a\n").find("bad.yaml:"), std::string::npos);  // its own parse errors name it
  std::filesystem::remove_all(dir);
}

// remote_write and external_labels (docs/remote-write.md).
TEST(RemoteWriteConfig, PrometheusShapeParses) {
  Config cfg;
  setenv("BPFEX_TEST_RW_NODE", "node-7", 1);
  ASSERT_TRUE(loadConfigText(R"(external_labels: {node: "${BPFEX_TEST_RW_NODE}", dc: "x-${BPFEX_TEST_RW_NODE}"}
remote_write:
  - url: https://mimir.example:443/api/v1/push
    name: mimir
    remote_timeout: 10s
    headers: {X-Scope-OrgID: team-a}
    tls_config: {insecure_skip_verify: true, server_name: mimir.internal}
    queue_config: {capacity: 500, max_shards: 4, min_shards: 2, max_samples_per_send: 100,
                   batch_send_deadline: 2s, min_backoff: 100ms, max_backoff: 10s, retry_on_http_429: false}
  - url: http://127.0.0.1:8428/api/v1/write
)", "bpfex.yaml", cfg).ok());
  ASSERT_EQ(cfg.remote_write.size(), 2u);
  const auto& m = cfg.remote_write[0];
  EXPECT_EQ(m.name, "mimir");
  EXPECT_EQ(m.remote_timeout_seconds, 10);
  EXPECT_EQ(m.headers, std::vector<std::string>{"X-Scope-OrgID: team-a"});
  EXPECT_TRUE(m.client.insecure_skip_verify);
  EXPECT_EQ(m.client.server_name, "mimir.internal");
  EXPECT_EQ(m.queue.capacity, 500u);
  EXPECT_EQ(m.queue.min_shards, 2u);
  EXPECT_EQ(m.queue.max_backoff, 10);
  EXPECT_FALSE(m.queue.retry_on_http_429);
  EXPECT_EQ(cfg.remote_write[1].name, "127.0.0.1:8428");  // the default name
  EXPECT_EQ(cfg.external_labels.at("node"), "node-7");
  EXPECT_EQ(cfg.external_labels.at("dc"), "x-node-7");
}

TEST(RemoteWriteConfig, MistakesNameTheirLineAndField) {
  EXPECT_EQ(loadError("remote_write:\n  - url: http://a/w\n    queue_config: {max_shard: 3}\n"),
            "bpfex.yaml:3:20: remote_write[0].queue_config.max_shard: unknown setting (capacity, min_shards, "
            "max_shards, max_samples_per_send, batch_send_deadline, min_backoff, max_backoff, retry_on_http_429)");
  EXPECT_EQ(loadError("remote_write:\n  - name: x\n"), "bpfex.yaml:2:5: remote_write[0].url: required");
  EXPECT_EQ(loadError("remote_write:\n  - url: ftp://a/w\n"),
            "bpfex.yaml:2:10: remote_write[0].url: \"ftp://a/w\" must start with http:// or https://");
  EXPECT_EQ(loadError("remote_write:\n  - url: http://a/w\n    headers: {Content-Type: text/plain}\n"),
            "bpfex.yaml:3:15: remote_write[0].headers.Content-Type: is set by bpfex (the protocol or the credentials)");
  EXPECT_EQ(loadError("remote_write:\n  - url: http://a/w\n    remote_timeout: 0s\n"),
            "bpfex.yaml:3:21: remote_write[0].remote_timeout: 0s is out of range [100ms, 600s]");
  EXPECT_EQ(loadError("remote_write:\n  - url: http://a/w\n  - url: http://a/v\n"),
            "bpfex.yaml:3:5: remote_write[1].name: \"a\" names another endpoint too; give each a name of its own");
  EXPECT_NE(loadError("remote_write:\n  - url: http://a/w\n    basic_auth: {username: u, password_file: /nonexistent/pw}\n")
                .find("bpfex.yaml:3:46: remote_write[0].basic_auth.password_file: /nonexistent/pw: "),
            std::string::npos);
  EXPECT_EQ(loadError("remote_write:\n  - url: http://a/w\n    authorization: {type: Basic, credentials_file: /etc/hostname}\n"),
            "bpfex.yaml:3:20: remote_write[0].authorization.type: only Bearer is supported");
  EXPECT_EQ(loadError("external_labels: {node: \"${BPFEX_TEST_SURELY_UNSET}\"}\n"),
            "bpfex.yaml:1:25: external_labels.node: the environment variable BPFEX_TEST_SURELY_UNSET is not set");
  EXPECT_EQ(loadError("external_labels: {__name__: x}\n"),
            "bpfex.yaml:1:19: external_labels.__name__: \"__name__\" is not a valid label name");
  EXPECT_EQ(loadError("remote_write: {url: http://a/w}\n"), "bpfex.yaml:1:15: remote_write: expected a list of endpoints");
}

}  // namespace
}  // namespace bpfex::daemon
