// rule_status (engine/rule_status.h): the /rules document and Prometheus'
// /api/v1/alerts and /api/v1/rules shapes, from what the engine knows.
#include "engine/rule_status.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace bpfex::engine {
namespace {

TEST(RuleStatus, RefusedFilesAndReloadOutcome) {
  std::vector<LoadedRule> rules;
  std::vector<RefusedRule> refused{{.file = "bad.lua", .kind = "compile", .message = "bad.lua:3: nope", .time = 7}};
  LoadErrors errors{{"bad.lua", {{"compile", 2}}}};
  const StatusDocuments d =
      renderStatus(rules, refused, errors, {.ok = false, .error = "bad.lua:3: nope", .time = 7, .success_time = 5});
  const auto j = nlohmann::json::parse(d.status);
  EXPECT_EQ(j["last_reload_successful"], false);
  EXPECT_EQ(j["last_reload_success_time"], 5);
  ASSERT_EQ(j["rules"].size(), 1u);
  EXPECT_EQ(j["rules"][0]["health"], "refused");
  EXPECT_EQ(j["rules"][0]["errors"]["compile"], 2);
  EXPECT_EQ(j["rules"][0]["load_error"]["message"], "bad.lua:3: nope");
  EXPECT_EQ(nlohmann::json::parse(d.alerts)["data"]["alerts"].size(), 0u);
  EXPECT_EQ(nlohmann::json::parse(d.rules)["data"]["groups"].size(), 0u);
}

TEST(RuleStatus, AlertsAsPrometheusAnswers) {
  auto rule = lua::Rule::load("a.lua", "alert{name = 'Hot', labels = {severity = 'page'}}\non_tick(function() end)\n", {});
  ASSERT_TRUE(rule.ok()) << rule.error().message();
  auto a = AlertingRule::create({.name = "Hot", .for_seconds = 0, .labels = {{"severity", "page"}}});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->eval({{{{"cpu", "3"}}, 0.25}}, 100).ok());
  std::vector<LoadedRule> rules(1);
  rules[0].rule = std::move(rule).value();
  rules[0].alerts.push_back(std::move(a).value());
  rules[0].last_eval_unix = 100;
  const StatusDocuments d = renderStatus(rules, {}, {}, {});
  const auto alerts = nlohmann::json::parse(d.alerts);
  EXPECT_EQ(alerts["status"], "success");
  ASSERT_EQ(alerts["data"]["alerts"].size(), 1u);
  const auto& al = alerts["data"]["alerts"][0];
  EXPECT_EQ(al["state"], "firing");
  EXPECT_EQ(al["value"], "2.5e-01");  // strconv.FormatFloat(v, 'e', -1, 64)
  EXPECT_EQ(al["labels"]["cpu"], "3");
  const auto groups = nlohmann::json::parse(d.rules)["data"]["groups"];
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0]["file"], "a.lua");
  EXPECT_EQ(groups[0]["rules"][0]["type"], "alerting");
  EXPECT_EQ(groups[0]["rules"][0]["query"], "lua:a.lua");
}

// A message or label with a byte that is not UTF-8 (error("bad\255"), a label
// value from a map) is written with U+FFFD: the documents keep being
// rendered, for that rule and every other (nlohmann's dump() used to throw).
TEST(RuleStatus, InvalidUtf8IsReplacedNotThrownOn) {
  std::vector<RefusedRule> refused{{.file = "bad\xff.lua", .kind = "compile", .message = "bad\xff\xfe:1: x", .time = 7}};
  auto rule = lua::Rule::load("a.lua", "alert{name = 'Hot'}\non_tick(function() end)\n", {});
  ASSERT_TRUE(rule.ok()) << rule.error().message();
  auto a = AlertingRule::create({.name = "Hot", .for_seconds = 0, .annotations = {{"summary", "s\xc3"}}});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->eval({{{{"cpu", "\xff"}}, 1}}, 100).ok());
  std::vector<LoadedRule> rules(1);
  rules[0].rule = std::move(rule).value();
  rules[0].alerts.push_back(std::move(a).value());
  StatusDocuments d;
  ASSERT_NO_THROW(d = renderStatus(rules, refused, {}, {.ok = false, .error = "\x80", .time = 7}));
  const auto j = nlohmann::json::parse(d.status);
  EXPECT_EQ(j["rules"].size(), 2u);
  EXPECT_EQ(j["last_reload_error"], "\xef\xbf\xbd");
  const auto al = nlohmann::json::parse(d.alerts)["data"]["alerts"][0];
  EXPECT_EQ(al["labels"]["cpu"], "\xef\xbf\xbd");
  EXPECT_EQ(al["annotations"]["summary"], "s\xef\xbf\xbd");
  EXPECT_TRUE(nlohmann::json::parse(d.rules).is_object());
}

}  // namespace
}  // namespace bpfex::engine
