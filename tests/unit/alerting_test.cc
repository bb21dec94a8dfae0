// The state machine on a controlled clock, on the scenarios the reference
// verified against Prometheus 2.42 (prometheus-semantics.md §1.3).
#include "engine/alerting.h"

#include <gtest/gtest.h>

namespace bpfex::engine {
namespace {

constexpr double kMin = 60;

AlertingRule rule(double for_s, double keep = 0) {
  return AlertingRule::create({.name = "HighPacketDropRate",
                               .for_seconds = for_s,
                               .keep_firing_for_seconds = keep,
                               .labels = {{"severity", "warning"}},
                               .annotations = {{"summary", "drop rate {{ $value | humanizePercentage }} on {{ $labels.hook }}"}}})
      .value();
}

const Alert& only(const AlertingRule& r) {
  EXPECT_EQ(r.alerts().size(), 1u);
  return r.alerts().begin()->second;
}

TEST(Alerting, PendingThenFiringExactlyWhenForHasPassed) {
  // for: 2m, evaluated every minute from 0m with the condition true:
  // pending at 0m and 1m, firing at 2m.
  AlertingRule r = rule(2 * kMin);
  const std::vector<std::pair<LabelMap, double>> on = {{{{"hook", "xdp"}}, 0.07}};
  ASSERT_TRUE(r.eval(on, 0).ok());
  EXPECT_EQ(only(r).state, AlertState::kPending);
  EXPECT_EQ(only(r).active_at, 0);
  ASSERT_TRUE(r.eval(on, 1 * kMin).ok());
  EXPECT_EQ(only(r).state, AlertState::kPending);
  ASSERT_TRUE(r.eval(on, 2 * kMin).ok());
  EXPECT_EQ(only(r).state, AlertState::kFiring);
  EXPECT_EQ(only(r).fired_at, 2 * kMin);
  EXPECT_EQ(only(r).labels.at("alertname"), "HighPacketDropRate");
  EXPECT_EQ(only(r).labels.at("severity"), "warning");
  EXPECT_EQ(only(r).annotations.at("summary"), "drop rate 7% on xdp");
}

TEST(Alerting, ForZeroFiresAtTheFirstEvaluation) {
  AlertingRule r = rule(0);
  ASSERT_TRUE(r.eval({{{{"hook", "tc"}}, 1}}, 10).ok());
  EXPECT_EQ(only(r).state, AlertState::kFiring);
}

TEST(Alerting, APendingInstanceThatGoesAwayIsDeletedUnsent) {
  AlertingRule r = rule(5 * kMin);
  ASSERT_TRUE(r.eval({{{{"hook", "xdp"}}, 1}}, 0).ok());
  EXPECT_TRUE(r.due(0, kMin).empty());  // pending alerts are never sent
  ASSERT_TRUE(r.eval({}, kMin).ok());
  EXPECT_TRUE(r.alerts().empty());
}

TEST(Alerting, KeepFiringForHoldsThenResolves) {
  // for: 2m, keep_firing_for: 3m, condition false from 5m:
  // firing at 5m, 6m and 7m, resolved at 8m.
  AlertingRule r = rule(2 * kMin, 3 * kMin);
  const std::vector<std::pair<LabelMap, double>> on = {{{{"hook", "xdp"}}, 1}};
  for (int m = 0; m <= 4; ++m) ASSERT_TRUE(r.eval(on, m * kMin).ok());
  EXPECT_EQ(only(r).state, AlertState::kFiring);
  for (int m = 5; m <= 7; ++m) {
    ASSERT_TRUE(r.eval({}, m * kMin).ok());
    EXPECT_EQ(only(r).state, AlertState::kFiring) << m << "m";
  }
  ASSERT_TRUE(r.eval({}, 8 * kMin).ok());
  EXPECT_EQ(only(r).state, AlertState::kInactive);
  EXPECT_EQ(only(r).resolved_at, 8 * kMin);
}

TEST(Alerting, ResolvedIsRetainedFifteenMinutesAndAReturnStartsFresh) {
  AlertingRule r = rule(0);
  const std::vector<std::pair<LabelMap, double>> on = {{{{"hook", "xdp"}}, 1}};
  ASSERT_TRUE(r.eval(on, 0).ok());
  ASSERT_TRUE(r.eval({}, kMin).ok());
  EXPECT_EQ(only(r).state, AlertState::kInactive);
  ASSERT_EQ(r.due(kMin, kMin).size(), 1u);  // resolved: sent
  ASSERT_TRUE(r.eval(on, 2 * kMin).ok());   // back: a fresh instance
  EXPECT_EQ(only(r).state, AlertState::kFiring);
  EXPECT_EQ(only(r).active_at, 2 * kMin);
  ASSERT_TRUE(r.eval({}, 3 * kMin).ok());
  ASSERT_TRUE(r.eval({}, 3 * kMin + AlertingRule::kResolvedRetention).ok());
  EXPECT_EQ(r.alerts().size(), 1u);  // exactly at retention: still kept
  ASSERT_TRUE(r.eval({}, 3 * kMin + AlertingRule::kResolvedRetention + 1).ok());
  EXPECT_TRUE(r.alerts().empty());
}

TEST(Alerting, IdentityIsTheLabelSetAndDuplicatesAreAnError) {
  AlertingRule r = rule(0);
  ASSERT_TRUE(r.eval({{{{"hook", "xdp"}}, 1}, {{{"hook", "tc"}}, 2}}, 0).ok());
  EXPECT_EQ(r.alerts().size(), 2u);
  auto st = r.eval({{{{"hook", "xdp"}}, 1}, {{{"hook", "xdp"}}, 2}}, kMin);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("same labelset"), std::string::npos);
  EXPECT_EQ(r.alerts().size(), 2u);  // the state is unchanged
}

TEST(Alerting, SendsOnFiringResendsAfterTheDelayAndResolvesAtOnce) {
  // The verified capture: eval every 1s, resend delay 3s: sends at t, t+4, t+8
  // (strictly after LastSentAt + 3s), the resolution at once, then every 4s.
  AlertingRule r = rule(0);
  const double t = 1.7e9;
  const std::vector<std::pair<LabelMap, double>> on = {{{{"hook", "xdp"}}, 1}};
  std::vector<double> sent;
  auto step = [&](double ts, bool active) {
    ASSERT_TRUE(r.eval(active ? on : std::vector<std::pair<LabelMap, double>>{}, ts).ok());
    for (Alert* a : r.due(ts, 3)) {
      a->last_sent_at = ts;
      sent.push_back(ts - t);
    }
  };
  for (int i = 0; i <= 10; ++i) step(t + i, true);
  EXPECT_EQ(sent, (std::vector<double>{0, 4, 8}));
  sent.clear();
  for (int i = 11; i <= 19; ++i) step(t + i, false);
  EXPECT_EQ(sent, (std::vector<double>{11, 15, 19}));  // resolved at 11: sent at once, then re-sent
  EXPECT_EQ(only(r).resolved_at, t + 11);
}

TEST(Alerting, TemplatesThatDoNotParseFailTheRule) {
  auto r = AlertingRule::create({.name = "X", .annotations = {{"summary", "{{ $value | nope }}"}}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("alert X annotation summary"), std::string::npos);
}

// For-state restoration after a restart (Prometheus' RestoreForState): the
// three cases, by how much of `for` was left when bpfex went down.
TEST(AlertingRestore, ShiftsByDowntimeGivesGraceOrFiresNext) {
  const double grace = 600, for_s = 1800;  // for: 30m
  auto make = [&] { return AlertingRule::create({.name = "A", .for_seconds = for_s}).value(); };
  const LabelMap inst{{"hook", "xdp"}};
  auto key = [&](AlertingRule& r) { return r.alerts().begin()->first; };

  // Active at 1000, down at 1600 (600 s pending, 1200 left >= grace), back at 2000:
  // ActiveAt moves by the 400 s downtime, so it fires at 1400 + 1800 = 3200.
  AlertingRule a = make();
  ASSERT_TRUE(a.eval({{inst, 1}}, 2000).ok());
  std::map<std::string, double> saved{{key(a), 1000}};
  a.restoreForState(saved, 1600, 2000, grace);
  EXPECT_TRUE(saved.empty());
  EXPECT_EQ(a.alerts().begin()->second.active_at, 1400);
  ASSERT_TRUE(a.eval({{inst, 1}}, 3190).ok());
  EXPECT_EQ(a.state(), AlertState::kPending);
  ASSERT_TRUE(a.eval({{inst, 1}}, 3200).ok());
  EXPECT_EQ(a.state(), AlertState::kFiring);

  // Active at 1000, down at 2500 (300 s left < grace), back at 2600: fires a
  // grace period after the restart, at 3200.
  AlertingRule b = make();
  ASSERT_TRUE(b.eval({{inst, 1}}, 2600).ok());
  saved = {{key(b), 1000}};
  b.restoreForState(saved, 2500, 2600, grace);
  EXPECT_EQ(b.alerts().begin()->second.active_at, 2600 + grace - for_s);

  // Active at 1000, down at 3000 (firing already), back at 3100: firing at the
  // next evaluation, with its original ActiveAt.
  AlertingRule c = make();
  ASSERT_TRUE(c.eval({{inst, 1}}, 3100).ok());
  saved = {{key(c), 1000}};
  c.restoreForState(saved, 3000, 3100, grace);
  ASSERT_TRUE(c.eval({{inst, 1}}, 3130).ok());
  EXPECT_EQ(c.state(), AlertState::kFiring);
  EXPECT_EQ(c.alerts().begin()->second.active_at, 1000);

  // for shorter than the grace period: not restored, it waits its `for` again.
  AlertingRule d = AlertingRule::create({.name = "A", .for_seconds = 120}).value();
  ASSERT_TRUE(d.eval({{inst, 1}}, 3100).ok());
  saved = {{key(d), 1000}};
  d.restoreForState(saved, 3000, 3100, grace);
  EXPECT_EQ(d.alerts().begin()->second.active_at, 3100);
  EXPECT_EQ(saved.size(), 1u);
}

}  // namespace
}  // namespace bpfex::engine
