// What the rule engine knows about each rule, and the JSON documents built
// from it once per tick: bpfex's /rules, and Prometheus' /api/v1/alerts and
// /api/v1/rules shapes (what Grafana and amtool-style clients read).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/alerting.h"
#include "lua/rule.h"

namespace bpfex::engine {

// A loaded rule and its record.
struct LoadedRule {
  std::unique_ptr<lua::Rule> rule;
  std::vector<AlertingRule> alerts;  // one per alert the rule declares
  double last_eval_unix = 0;
  double last_run = -1;  // monotonic; -1: never
  double next_due = -1;  // monotonic: the rule's next slot on its interval's grid; -1: the first tick
  uint64_t runs = 0;
  double last_duration = 0;
  // Slow rules (RuleEngine::runSchedule): runs in a row that hit the time
  // budget, the tick before which the rule is not run again (backoff), and
  // the runs skipped, by reason ("backoff", "tick_deadline").
  uint32_t timeouts_in_a_row = 0;
  uint64_t backoff_until_tick = 0;
  std::map<std::string, uint64_t> skipped;
  std::map<std::string, uint64_t> errors;  // kind -> count
  std::string last_error, last_error_kind;
  double last_error_time = 0;
  // The file's newest version was refused; this (older) one keeps running.
  std::string load_error, load_error_kind;
};

// A file with no running version: refused at its first load.
struct RefusedRule {
  std::string file, kind, message;
  double time = 0;
};

struct ReloadOutcome {
  bool ok = true;
  std::string error;
  double time = 0, success_time = 0;
};

// file -> kind -> refusals at load
using LoadErrors = std::map<std::string, std::map<std::string, uint64_t>>;

struct StatusDocuments {
  std::string status;  // /rules
  std::string alerts;  // /api/v1/alerts
  std::string rules;   // /api/v1/rules
};

StatusDocuments renderStatus(const std::vector<LoadedRule>& rules, const std::vector<RefusedRule>& refused,
                             const LoadErrors& load_errors, const ReloadOutcome& reload);

}  // namespace bpfex::engine
