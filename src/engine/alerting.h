// AlertingRule: Prometheus' alerting-rule semantics (prometheus-semantics.md
// §1.2–1.4), driven by the evaluation time it is given, so tests control the
// clock. An evaluation gets the instances whose condition holds now (label
// set and value, as a PromQL expression's result would be); the rule keeps
// each instance's state:
//   new label set        -> pending, ActiveAt = ts
//   pending, ts - ActiveAt >= for       -> firing, FiredAt = ts
//   pending and gone     -> deleted (never sent)
//   firing and gone      -> held while ts - KeepFiringSince < keep_firing_for,
//                           then inactive, ResolvedAt = ts; kept 15 min to be
//                           re-sent as resolved; the label set coming back
//                           starts a fresh instance
// Labels and annotations are templated from the instance's labels and value.
//
// Thread safety: none (engine thread).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "engine/alert_template.h"

namespace bpfex::engine {

using LabelMap = std::map<std::string, std::string>;

enum class AlertState { kInactive, kPending, kFiring };
std::string_view alertStateName(AlertState s);

struct AlertRuleSpec {
  std::string name;
  double for_seconds = 0;
  double keep_firing_for_seconds = 0;
  std::vector<std::pair<std::string, std::string>> labels;       // name -> template
  std::vector<std::pair<std::string, std::string>> annotations;  // name -> template
};

struct Alert {
  LabelMap labels;  // the instance's labels + the rule's + alertname
  LabelMap annotations;
  double value = 0;
  AlertState state = AlertState::kInactive;
  double active_at = 0, fired_at = 0, resolved_at = 0, keep_firing_since = 0, last_sent_at = 0;
};

class AlertingRule {
 public:
  static constexpr double kResolvedRetention = 15 * 60;

  // Parses every template; an error names the rule and the template.
  static base::Result<AlertingRule> create(AlertRuleSpec spec, LabelMap external_labels = {});

  // One evaluation at time `ts` (seconds). Two instances that end up with the
  // same label set are an error, as in Prometheus; the rule keeps its state.
  base::Status eval(const std::vector<std::pair<LabelMap, double>>& active, double ts);

  const AlertRuleSpec& spec() const { return spec_; }
  // Instances by their label set, including resolved ones within retention.
  const std::map<std::string, Alert>& alerts() const { return alerts_; }
  // Highest state among the instances; inactive when none.
  AlertState state() const;
  // Instances to send at `ts`: firing ones not sent within `resend_delay`,
  // and resolved ones (Prometheus re-sends those during retention).
  std::vector<Alert*> due(double ts, double resend_delay);
  // Takes over another rule's instances (a reload of the same alert).
  void inheritFrom(const AlertingRule& old) { alerts_ = old.alerts_; }

  // For-state restoration after a restart, as Prometheus' RestoreForState:
  // `saved` holds ActiveAt by label key as last written at `down_at`, before
  // the restart; call it after an evaluation at `ts`. Each pending instance
  // found in `saved` gets its ActiveAt back, shifted by the downtime, or so
  // that it fires no sooner than `grace` after `ts` when less than `grace`
  // was left; it is then erased from `saved`. Rules whose `for` is shorter
  // than `grace` are not restored (they wait their `for` again).
  void restoreForState(std::map<std::string, double>& saved, double down_at, double ts, double grace);

 private:
  struct Compiled {
    std::string name;
    AlertTemplate tpl;
  };
  AlertRuleSpec spec_;
  LabelMap external_;
  std::vector<Compiled> labels_, annotations_;
  std::map<std::string, Alert> alerts_;
};

// A stable key for a label set: name=value pairs, in order, NUL-separated.
std::string labelKey(const LabelMap& labels);

}  // namespace bpfex::engine
