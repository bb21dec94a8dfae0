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
