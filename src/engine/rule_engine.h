// RuleEngine: the loaded set of Lua rules, run once per tick (or at a rule's
// own interval) on the engine thread, under a time budget enforced by a
// watchdog thread, and replaced atomically on reload.
//
// - A rule that errs, exceeds its time budget or memory, or writes bad values
//   is counted in bpfex_rule_errors_total{rule,kind}; its last error is kept
//   for /rules and the log; its series keep their last good values; every
//   other rule runs as usual.
// - Reload: every file is compiled and every declaration validated (names,
//   types, clashes with bpfex's own metrics and between rules) before
//   anything changes; a broken set leaves the running set serving and
//   bpfex_config_last_reload_successful at 0. Families a new set declares
//   identically keep their series across the swap (counters do not reset).
//
// Its parts: rule_files.h (finding and compiling), alert_set.h (alerts),
// rule_status.h (the JSON documents); the BPF maps rules read come through a
// lua::DataSource (bpf_data_source.h in the daemon).
//
// Thread safety: reload() and the collector run on the engine thread;
// statusJson() may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "engine/alert_set.h"
#include "engine/engine.h"
#include "engine/rule_files.h"
#include "engine/rule_status.h"
#include "lua/rule.h"
#include "lua/series_history.h"
#include "metrics/registry.h"

namespace bpfex::engine {

class RuleEngine {
 public:
  RuleEngine(metrics::Registry& registry, lua::DataSource* data, lua::RuleLimits limits);
  ~RuleEngine();

  // Compiles and admits the rule files at `paths`, each on its own, and
  // swaps in the admitted ones. A file that fails to compile, to run its top
  // level within its limits, or to fit beside bpfex's metrics and the other
  // rules is refused (counted, shown on /rules) and the others load; if it
  // was loaded before, that version keeps running. The error lists every
  // refusal; success means none.
  base::Status reload(const std::vector<std::string>& paths);
  // Validates compiled rules against `registry` without changing anything.
  static base::Status validate(const std::vector<std::unique_ptr<lua::Rule>>& rules,
                               const metrics::Registry& registry,
                               const std::vector<std::unique_ptr<lua::Rule>>& replaced,
                               size_t max_total = kDefaultMaxFamiliesTotal);
  static constexpr size_t kDefaultMaxFamiliesTotal = 10000;
  // Families all loaded rules may declare together (rule_limits.max_families_total).
  void setMaxFamiliesTotal(size_t n) { max_families_total_ = n; }

  // Runs due rules; registered by the daemon as the "rules" collector. Also
  // observes the engine's ticks to keep the history range() selects.
  Collector collector(Engine& engine);
  // JSON for /rules: every rule's state, and the last reload.
  std::string statusJson() const;
  // Prometheus' /api/v1/alerts and /api/v1/rules shapes.
  std::string alertsJson() const;
  std::string rulesJson() const;
  size_t size() const { return rules_.size(); }
  // The clock rules see (monotonic seconds): virtual in `bpfex test`.
  void setClock(std::function<double()> mono, std::function<double()> unix_now) {
    mono_ = std::move(mono);
    unix_ = std::move(unix_now);
  }
  // Where due alerts go (the daemon's Alertmanager notifier): called on the
  // engine thread after each evaluation with the alerts to send.
  using SentAlert = engine::SentAlert;
  using AlertingOptions = engine::AlertingOptions;
  void setAlertSink(std::function<void(std::vector<SentAlert>)> sink, AlertingOptions o) {
    external_labels_ = o.external_labels;
    alert_set_.setSink(std::move(sink), std::move(o));
  }
  // Values rules read as params.<name> (config rule_params).
  void setParams(std::map<std::string, std::string> p) { params_ = std::move(p); }
  void setLimits(const lua::RuleLimits& l) { limits_ = l; }
  void setTickInterval(double s) { tick_interval_ = s; }
  // The state directory rules read and write (state.*) and bpfex.restarts().
  // With a directory, alerts' for-state is kept there (alerts_for_state.json)
  // and restored after a restart, as Prometheus restores it from
  // ALERTS_FOR_STATE: within `outage_tolerance` of the last write, with
  // `grace` for rules whose `for` is at least that long.
  void setState(std::string dir, uint64_t restarts, double grace = 600, double outage_tolerance = 3600);

 private:
  // Per candidate (in order): "" if it fits beside `registry` (less the
  // families named in `replaced_names`) and the candidates before it, else why.
  static std::vector<std::string> admit(const std::vector<const lua::Rule*>& candidates,
                                        const metrics::Registry& registry,
                                        const std::set<std::string>& replaced_names, size_t max_total);
  // Runs the rule and records how it went; false when the run failed.
  bool dueNow(LoadedRule& s, double now) const;
  // Runs what is due this tick, healthy rules first (RuleEngine::collector).
  void runSchedule(const lua::TickContext& ctx);
  // Runs the rule and records how it went; the run's outcome.
  lua::ErrorKind runRule(LoadedRule& s, const lua::TickContext& ctx);
  // The rule's alerts on what its run fired (alert_set.h).
  void evaluateAlerts(LoadedRule& s, const lua::TickContext& ctx);
  static void recordError(LoadedRule& s, const std::string& kind, uint64_t n, const std::string& message, double now);
  void writeSelfMetrics(const LoadedRule& s);
  void watchRanges();
  void publishStatus();

  std::function<double()> mono_, unix_;
  double tick_interval_ = 5;
  std::string state_dir_;
  uint64_t restarts_ = 0;
  std::map<std::string, std::string> params_;
  metrics::Registry& registry_;
  lua::DataSource* data_;
  lua::RuleLimits limits_;
  std::vector<LoadedRule> rules_;
  std::vector<RefusedRule> refused_;
  LoadErrors load_errors_;
  size_t max_families_total_ = kDefaultMaxFamiliesTotal;
  ReloadOutcome reload_;

  metrics::Family *runs_, *errors_, *duration_, *memory_, *loaded_, *reload_ok_, *reload_time_, *skipped_;
  AlertSet alert_set_;
  LabelMap external_labels_;
  // What range() selects, at tick resolution; recorded after each tick at
  // the time the rules saw (last_tick_mono_).
  lua::SeriesHistory history_;
  double last_tick_mono_ = 0;
  bool observing_ = false;
  metrics::Family *history_series_ = nullptr, *history_samples_ = nullptr, *history_dropped_ = nullptr;

  mutable std::mutex status_mu_;
  StatusDocuments status_;
};

}  // namespace bpfex::engine
