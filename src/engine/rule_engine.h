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
#include "engine/alerting.h"
#include "engine/bpf_runtime.h"
#include "engine/engine.h"
#include "lua/rule.h"
#include "lua/series_history.h"
#include "metrics/registry.h"

namespace bpfex::engine {

// Rule files named by paths: files as given, directories' *.lua (sorted, not
// recursive). Errors name the path.
base::Result<std::vector<std::string>> ruleFiles(const std::vector<std::string>& paths);

// Compiles one rule file (not bound): read (at most 4 MiB), then Rule::load
// under the limits. Errors name the file; their code tells the kind
// (lua::loadErrorKind).
base::Result<std::unique_ptr<lua::Rule>> compileRule(const std::string& file, const lua::RuleLimits& limits,
                                                     const std::map<std::string, std::string>& params = {});

// Compiles the files into rules (not bound). All errors, one per line.
base::Result<std::vector<std::unique_ptr<lua::Rule>>> compileRules(
    const std::vector<std::string>& files, const lua::RuleLimits& limits,
    const std::map<std::string, std::string>& params = {});

// The DataSource rules read: BPF maps through the runtime, per-CPU summed.
class BpfDataSource : public lua::DataSource {
 public:
  explicit BpfDataSource(BpfRuntime& rt) : rt_(rt) {}
  void setTick(uint64_t tick) { tick_ = tick; }
  base::Result<lua::MapView> mapView(const std::string& name) override;
  base::Result<const bpf::EventReader*> events(const std::string& name) override;
  std::vector<lua::ProgramView> programs() override;

 private:
  struct Summed {
    uint64_t tick = 0;
    const bpf::Layout* from = nullptr;  // the layout `plan` was made for
    std::unique_ptr<bpf::PerCpuSum> plan;
    std::vector<uint8_t> values;
  };
  BpfRuntime& rt_;
  uint64_t tick_ = 0;
  std::map<std::string, Summed> summed_;
};

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
  struct SentAlert {
    LabelMap labels, annotations;
    double starts_at = 0, ends_at = 0;
  };
  struct AlertingOptions {
    double resend_delay_seconds = 60;
    LabelMap external_labels;
  };
  void setAlertSink(std::function<void(std::vector<SentAlert>)> sink, AlertingOptions o) {
    sink_ = std::move(sink);
    alerting_ = std::move(o);
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
  struct State {
    std::unique_ptr<lua::Rule> rule;
    std::vector<AlertingRule> alerts;  // one per alert the rule declares
    double last_eval_unix = 0;
    double last_run = -1;
    uint64_t runs = 0;
    double last_duration = 0;
    std::map<std::string, uint64_t> errors;  // kind -> count
    std::string last_error, last_error_kind;
    double last_error_time = 0;
    // The file's newest version was refused; this (older) one keeps running.
    std::string load_error, load_error_kind;
  };
  // A file with no running version: refused at its first load.
  struct Refused {
    std::string file, kind, message;
    double time = 0;
  };
  // Per candidate (in order): "" if it fits beside `registry` (less the
  // families named in `replaced_names`) and the candidates before it, else why.
  static std::vector<std::string> admit(const std::vector<const lua::Rule*>& candidates,
                                        const metrics::Registry& registry,
                                        const std::set<std::string>& replaced_names, size_t max_total);
  void runRule(State& s, const lua::TickContext& ctx);
  void publishStatus();

  std::function<double()> mono_, unix_;
  std::function<void(std::vector<SentAlert>)> sink_;
  AlertingOptions alerting_;
  double tick_interval_ = 5;
  std::string state_dir_;
  uint64_t restarts_ = 0;
  // For-state saved before the restart: "rule\nalert" -> label key -> ActiveAt.
  std::map<std::string, std::map<std::string, double>> saved_for_state_;
  double saved_down_at_ = 0, for_grace_ = 600, for_outage_tolerance_ = 3600;
  std::string last_for_state_;  // what was last written, to skip unchanged quiet writes
  std::map<std::string, std::string> params_;
  metrics::Registry& registry_;
  lua::DataSource* data_;
  lua::RuleLimits limits_;
  std::vector<State> rules_;
  std::vector<Refused> refused_;
  std::map<std::string, std::map<std::string, uint64_t>> load_errors_;  // file -> kind -> refusals
  size_t max_families_total_ = kDefaultMaxFamiliesTotal;

  metrics::Family *runs_, *errors_, *duration_, *memory_, *loaded_, *reload_ok_, *reload_time_;
  // What range() selects, at tick resolution; recorded after each tick at
  // the time the rules saw (last_tick_mono_).
  lua::SeriesHistory history_;
  double last_tick_mono_ = 0;
  bool observing_ = false;
  metrics::Family *history_series_ = nullptr, *history_samples_ = nullptr, *history_dropped_ = nullptr;
  void watchRanges();
  bool last_reload_ok_ = true;
  std::string last_reload_error_;
  double last_reload_time_ = 0, last_reload_success_time_ = 0;

  mutable std::mutex status_mu_;
  std::string status_json_, alerts_json_, rules_json_;
  metrics::Family *alerts_series_ = nullptr, *alerts_for_state_ = nullptr;
  void writeAlertSeries();
  void persistForState(double now);
  static base::Result<std::vector<AlertingRule>> makeAlerts(const lua::Rule& r, const LabelMap& external = {});
};

}  // namespace bpfex::engine
