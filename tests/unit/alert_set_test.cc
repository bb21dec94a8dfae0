// AlertSet (engine/alert_set.h): evaluation on what a run fired, the
// notifications due, ALERTS series, for-state across a restart.
#include "engine/alert_set.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "metrics/exposition.h"

namespace bpfex::engine {
namespace {

namespace fs = std::filesystem;

std::vector<AlertingRule> oneAlert(double for_seconds) {
  auto a = AlertingRule::create({.name = "Hot", .for_seconds = for_seconds, .labels = {{"severity", "page"}},
                                 .annotations = {{"summary", "{{ $labels.cpu }} at {{ $value }}"}}});
  EXPECT_TRUE(a.ok());
  std::vector<AlertingRule> v;
  v.push_back(std::move(a).value());
  return v;
}

std::vector<lua::AlertFiring> firing(const std::string& cpu, double v) {
  return {{.decl = 0, .labels = {{"cpu", cpu}}, .value = v}};
}

std::string scrape(const metrics::Registry& r) {
  metrics::Buffer b;
  metrics::renderRegistry(r, metrics::Format::kText004, b);
  return std::string(b.view());
}

TEST(AlertSet, PendingThenFiringThenSentValidForFourIntervals) {
  metrics::Registry reg;
  AlertSet set(reg);
  std::vector<SentAlert> sent;
  set.setSink([&](std::vector<SentAlert> s) { sent.insert(sent.end(), s.begin(), s.end()); },
              {.resend_delay_seconds = 60, .external_labels = {{"dc", "x"}, {"severity", "ignored"}}});
  auto alerts = oneAlert(30);
  const std::string rule = "r.lua";
  EXPECT_TRUE(set.evaluate(rule, alerts, firing("0", 91), 1000, 5).empty());
  set.afterTick(std::vector<RuleAlerts>{{&rule, &alerts}}, 1000);
  EXPECT_NE(scrape(reg).find("ALERTS{alertname=\"Hot\",alertstate=\"pending\",cpu=\"0\",severity=\"page\"} 1"),
            std::string::npos)
      << scrape(reg);
  EXPECT_TRUE(sent.empty());  // pending is never sent
  EXPECT_TRUE(set.evaluate(rule, alerts, firing("0", 95), 1030, 5).empty());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].labels.at("dc"), "x");
  EXPECT_EQ(sent[0].labels.at("severity"), "page");  // the rule's label wins over the external one
  EXPECT_EQ(sent[0].annotations.at("summary"), "0 at 95");
  EXPECT_EQ(sent[0].starts_at, 1030);
  EXPECT_EQ(sent[0].ends_at, 1030 + 4 * 60);  // 4 x max(interval 5 s, resend delay 60 s)
  // Not re-sent before the resend delay.
  EXPECT_TRUE(set.evaluate(rule, alerts, firing("0", 95), 1035, 5).empty());
  EXPECT_EQ(sent.size(), 1u);
}

TEST(AlertSet, TwoInstancesWithOneLabelSetAreAnErrorAndTheStateStays) {
  metrics::Registry reg;
  AlertSet set(reg);
  auto alerts = oneAlert(0);
  std::vector<lua::AlertFiring> twice = firing("0", 1);
  twice.push_back(twice[0]);
  const auto errors = set.evaluate("r.lua", alerts, twice, 10, 5);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(alerts[0].alerts().empty());
}

TEST(AlertSet, ForStateComesBackAfterARestart) {
  const fs::path dir = fs::temp_directory_path() / ("bpfex-alertset-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string rule = "r.lua";
  {
    metrics::Registry reg;
    AlertSet set(reg);
    set.setStateDir(dir.string(), 60, 3600);
    auto alerts = oneAlert(600);
    (void)set.evaluate(rule, alerts, firing("1", 1), 1000, 5);
    set.afterTick(std::vector<RuleAlerts>{{&rule, &alerts}}, 1000);
    (void)set.evaluate(rule, alerts, firing("1", 1), 1300, 5);
    set.afterTick(std::vector<RuleAlerts>{{&rule, &alerts}}, 1300);
  }
  ASSERT_TRUE(fs::exists(dir / "alerts_for_state.json"));
  metrics::Registry reg;
  AlertSet set(reg);
  set.setStateDir(dir.string(), 60, 3600);
  auto alerts = oneAlert(600);
  // Down from 1300 to 1400: 300 s of the 600 s had passed; the downtime does not count.
  (void)set.evaluate(rule, alerts, firing("1", 1), 1400, 5);
  ASSERT_EQ(alerts[0].alerts().size(), 1u);
  EXPECT_EQ(alerts[0].alerts().begin()->second.active_at, 1100);
  fs::remove_all(dir);
}

// A label that is not UTF-8 (byte 255) is written with U+FFFD: the state
// file is still written, and parses (dump() used to throw, and the file
// stopped being written for every rule).
TEST(AlertSet, StateIsWrittenWhateverTheLabelBytes) {
  const fs::path dir = fs::temp_directory_path() / ("bpfex-alertset-utf8-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string rule = "r.lua";
  metrics::Registry reg;
  AlertSet set(reg);
  set.setStateDir(dir.string(), 60, 3600);
  auto alerts = oneAlert(600);
  (void)set.evaluate(rule, alerts, firing("\xff", 1), 1000, 5);
  ASSERT_NO_THROW(set.afterTick(std::vector<RuleAlerts>{{&rule, &alerts}}, 1000));
  std::ifstream in(dir / "alerts_for_state.json");
  ASSERT_TRUE(in.good());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\xef\xbf\xbd"), std::string::npos) << text;
  EXPECT_TRUE(nlohmann::json::parse(text).is_object());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bpfex::engine
