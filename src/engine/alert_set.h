// AlertSet: the alerts of every loaded rule, as Prometheus keeps them:
// evaluation on what each run fired (engine/alerting.h holds one alerting
// rule's state machine), the ALERTS and ALERTS_FOR_STATE series, for-state
// kept across restarts in the state directory, and the notifications due to
// Alertmanager.
//
// Thread safety: engine thread only.
#pragma once

#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/alerting.h"
#include "lua/rule.h"
#include "metrics/registry.h"

namespace bpfex::engine {

// One notification for Alertmanager.
struct SentAlert {
  LabelMap labels, annotations;
  double starts_at = 0, ends_at = 0;
};

struct AlertingOptions {
  double resend_delay_seconds = 60;
  LabelMap external_labels;
};

// A rule's alerts, by the rule's name (for-state is kept per rule and alert).
struct RuleAlerts {
  const std::string* rule;
  const std::vector<AlertingRule>* alerts;
};

class AlertSet {
 public:
  // Registers ALERTS and ALERTS_FOR_STATE.
  explicit AlertSet(metrics::Registry& registry);

  // The rule's alert declarations as alerting rules (templates parsed).
  // Errors name the rule file and the declaring line.
  static base::Result<std::vector<AlertingRule>> make(const lua::Rule& r, const LabelMap& external = {});

  // Where due notifications go (called on the engine thread).
  void setSink(std::function<void(std::vector<SentAlert>)> sink, AlertingOptions o) {
    sink_ = std::move(sink);
    options_ = std::move(o);
  }

  // Reads the for-state saved in `dir` before a restart (alerts_for_state.json)
  // and keeps writing it there. Restored as Prometheus restores it from
  // ALERTS_FOR_STATE: within `outage_tolerance` of the last write, with
  // `grace` for alerts whose `for` is at least that long. Empty: none.
  void setStateDir(std::string dir, double grace, double outage_tolerance);

  // One evaluation of a rule's alerts on what its run fired: states
  // advance, saved for-state is restored, due notifications go to the sink
  // (firing ones valid for 4 x max(interval, resend delay)). The errors of
  // alerts that could not be evaluated, one each.
  std::vector<std::string> evaluate(const std::string& rule, std::vector<AlertingRule>& alerts,
                                    const std::vector<lua::AlertFiring>& fired, double now, double interval);

  // After every tick: ALERTS and ALERTS_FOR_STATE from every rule's state
  // (due or not), and the for-state file while anything is active.
  void afterTick(std::span<const RuleAlerts> rules, double now);

 private:
  void writeSeries(std::span<const RuleAlerts> rules);
  void persist(std::span<const RuleAlerts> rules, double now);

  metrics::Family *alerts_series_, *alerts_for_state_, *state_errors_;
  uint64_t state_write_errors_ = 0;
  bool state_failing_ = false;
  std::function<void(std::vector<SentAlert>)> sink_;
  AlertingOptions options_;
  std::string state_dir_;
  // For-state saved before the restart: "rule\nalert" -> label key -> ActiveAt.
  std::map<std::string, std::map<std::string, double>> saved_;
  double saved_down_at_ = 0, grace_ = 600, outage_tolerance_ = 3600;
  std::string last_written_;  // what was last written, to skip unchanged quiet writes
};

}  // namespace bpfex::engine
