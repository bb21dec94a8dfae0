// /health's document (daemon/health.h): the seed's fields, and the states a
// running daemon reaches only by waiting (stale) or at startup.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon/health.h"

namespace bpfex::daemon {
namespace {

HealthInput running() {
  return {.now_unix = 1700000030.7, .port = 9479, .requests = 42, .series = 16, .collections = 8,
          .last_collection_unix = 1700000025.2, .stale_after_seconds = 30};
}

TEST(Health, OkCarriesTheSeedsFields) {
  const HealthResponse h = health(running());
  EXPECT_EQ(h.status, 200);
  const auto d = nlohmann::json::parse(h.body);
  EXPECT_EQ(d["status"], "ok");
  EXPECT_EQ(d["timestamp"], "2023-11-14T22:13:50Z");
  EXPECT_EQ(d["server"], nlohmann::json::parse(R"({"running": true, "port": 9479, "requests": 42, "metrics": 16,
      "collections": 8, "last_collection": "2023-11-14T22:13:45Z"})"));
}

TEST(Health, TheLastTicksPhases) {
  EXPECT_EQ(tickStatus(nullptr, 0), "null\n");
  metrics::TickStats t{.seconds = 0.5, .phases = {{"read", {0.3, 0.29}}, {"compress", {0.1, 0.09}}}};
  EXPECT_EQ(nlohmann::json::parse(tickStatus(&t, 7)),
            nlohmann::json::parse(R"({"tick": 7, "seconds": 0.5, "phases": {"read": 0.3, "compress": 0.1},
                                      "cpu": {"read": 0.29, "compress": 0.09}})"));
}

TEST(Health, StalePastTheBoundIs503) {
  HealthInput in = running();
  in.now_unix = in.last_collection_unix + 30;  // at the bound: still ok
  EXPECT_EQ(health(in).status, 200);
  in.now_unix = in.last_collection_unix + 30.5;
  const HealthResponse h = health(in);
  EXPECT_EQ(h.status, 503);
  const auto d = nlohmann::json::parse(h.body);
  EXPECT_EQ(d["status"], "stale");
  EXPECT_NE(d["reason"].get<std::string>().find("http.health_stale_after (30s)"), std::string::npos);
}

TEST(Health, BeforeTheFirstCollection) {
  HealthInput in = running();
  in.collections = 0;
  in.last_collection_unix = 0;
  const HealthResponse h = health(in);
  EXPECT_EQ(h.status, 503);
  const auto d = nlohmann::json::parse(h.body);
  EXPECT_EQ(d["status"], "starting");
  EXPECT_TRUE(d["server"]["last_collection"].is_null());
}

}  // namespace
}  // namespace bpfex::daemon

// The status page (daemon/status_page.h) from fixed inputs: the sections the
// browser test's daemon has no data for (BPF, Pushgateway), and the numbers.
#include "daemon/status_page.h"

namespace bpfex::daemon {
namespace {

TEST(StatusPage, NumbersForPeople) {
  EXPECT_EQ(humanDuration(0.25), "250ms");
  EXPECT_EQ(humanDuration(0.0000234), "23.4µs");
  EXPECT_EQ(humanDuration(1.5), "1.5s");
  EXPECT_EQ(humanDuration(125), "2m5s");
  EXPECT_EQ(humanDuration(90061), "1d1h");
  EXPECT_EQ(humanBytes(512), "512 B");
  EXPECT_EQ(humanBytes(1536), "1.5 KiB");
  EXPECT_EQ(humanBytes(64.0 * 1024 * 1024), "64 MiB");
}

TEST(StatusPage, BpfAndPeersFromTheSelfMetrics) {
  Config cfg;
  cfg.push.gateway = "https://job:s3cret@push.example:9091";
  cfg.alerting.alertmanagers = {"http://am:9093"};
  StatusInputs in;
  in.config = &cfg;
  in.now_unix = 1000;
  in.started_unix = 900;
  in.rules_json = R"({"last_reload_successful": true, "rules": []})";
  in.alerts_json = R"({"status": "success", "data": {"alerts": []}})";
  const std::string text =
      "bpfex_bpf_program_info{object=\"vpn\",program=\"xdp_main\",type=\"xdp\",tag=\"ab\",id=\"7\",attached=\"xdp:veth0\"} 1\n"
      "bpfex_bpf_program_run_count_total{object=\"vpn\",program=\"xdp_main\"} 1000\n"
      "bpfex_bpf_program_run_time_seconds_total{object=\"vpn\",program=\"xdp_main\"} 0.000042\n"
      "bpfex_bpf_map_max_entries{map=\"vpn/stats\",type=\"percpu_array\"} 1024\n"
      "bpfex_bpf_map_entries{map=\"vpn/stats\",type=\"percpu_array\"} 256\n"
      "bpfex_bpf_map_usage_ratio{map=\"vpn/stats\"} 0.25\n"
      "bpfex_bpf_map_read_duration_seconds{map=\"vpn/stats\"} 0.0012\n"
      "bpfex_push_total{result=\"ok\"} 3\n"
      "bpfex_push_last_success_timestamp_seconds 990\n"
      "bpfex_notifications_sent_total 5\n"
      "bpfex_notifications_last_success_timestamp_seconds 995\n"
      "bpfex_tick_phase_seconds{phase=\"read\"} 0.31\n"
      "bpfex_tick_phase_seconds{phase=\"rules\"} 0.02\n"
      "bpfex_tick_phase_seconds{phase=\"collect\"} 0.001\n"
      "bpfex_tick_phase_seconds{phase=\"sweep\"} 0\n"
      "bpfex_tick_phase_seconds{phase=\"render\"} 0.05\n"
      "bpfex_tick_phase_seconds{phase=\"compress\"} 0.1\n";
  in.exposition = text;
  in.ticks = 20;
  in.last_tick_unix = 998;
  const std::string page = renderStatusPage(in);
  EXPECT_NE(page.find("<td><code>vpn/xdp_main</code></td><td>xdp</td><td>xdp:veth0</td><td>1000</td><td>42 ns</td>"),
            std::string::npos) << page;
  EXPECT_NE(page.find("<td>256</td><td>1024</td><td>25.0%</td><td>1.2ms</td>"), std::string::npos) << page;
  EXPECT_NE(page.find("last success 10s ago, pushes 3 ok, 0 failed"), std::string::npos) << page;
  EXPECT_NE(page.find("last success 5s ago, sent 5, errors 0"), std::string::npos) << page;
  EXPECT_EQ(page.find("s3cret"), std::string::npos) << "a password on the page";
  EXPECT_NE(page.find("https://(redacted)@push.example:9091"), std::string::npos);
  EXPECT_NE(page.find("collecting every 5s; last collection 2s ago (tick 20)"), std::string::npos) << page;
  // Where the last tick went: the self-metrics' own numbers.
  EXPECT_NE(page.find("last tick 481ms: read 310ms · rules 20ms · collect 1ms · sweep 0s · render 50ms · compress 100ms"),
            std::string::npos) << page;
}

}  // namespace
}  // namespace bpfex::daemon
