#include "engine/rule_status.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>

#include "base/clock.h"
#include "base/json_text.h"

namespace bpfex::engine {

namespace {

std::string apiValue(double v) {  // Prometheus' API: strconv.FormatFloat(v, 'e', -1, 64)
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  return std::string(buf, r.ptr);
}

nlohmann::json alertJson(const Alert& a) {
  return {{"labels", a.labels}, {"annotations", a.annotations}, {"state", std::string(alertStateName(a.state))},
          {"activeAt", base::rfc3339(a.active_at)}, {"value", apiValue(a.value)}};
}

}  // namespace

StatusDocuments renderStatus(const std::vector<LoadedRule>& rules, const std::vector<RefusedRule>& refused,
                             const LoadErrors& load_errors, const ReloadOutcome& reload) {
  nlohmann::json j;
  j["last_reload_successful"] = reload.ok;
  j["last_reload_error"] = reload.error;
  j["last_reload_success_time"] = reload.success_time;
  j["last_reload_time"] = reload.time;
  j["rules"] = nlohmann::json::array();
  for (const LoadedRule& s : rules) {
    nlohmann::json r;
    r["rule"] = s.rule->name();
    r["interval_seconds"] = s.rule->intervalSeconds();
    r["runs"] = s.runs;
    r["last_duration_seconds"] = s.last_duration;
    r["memory_bytes"] = s.rule->memoryBytes();
    r["errors"] = s.errors;
    r["metrics"] = nlohmann::json::array();
    for (const auto& d : s.rule->declarations()) r["metrics"].push_back(d.name);
    if (!s.last_error.empty())
      r["last_error"] = {{"kind", s.last_error_kind}, {"message", s.last_error}, {"time", s.last_error_time}};
    r["health"] = !s.load_error.empty() ? "stale" : s.timeouts_in_a_row > 0 ? "backoff" : s.last_error.empty() ? "ok" : "err";
    if (!s.skipped.empty()) r["skipped_runs"] = s.skipped;
    if (s.timeouts_in_a_row > 0) r["timeouts_in_a_row"] = s.timeouts_in_a_row;
    if (!s.load_error.empty())
      r["load_error"] = {{"kind", s.load_error_kind}, {"message", s.load_error}, {"time", reload.time},
                         {"note", "the file's newest version was refused; this version keeps running"}};
    j["rules"].push_back(std::move(r));
  }
  // Files refused at their first load: nothing of theirs runs.
  for (const RefusedRule& rf : refused) {
    nlohmann::json r;
    r["rule"] = rf.file;
    r["health"] = "refused";
    r["runs"] = 0;
    r["metrics"] = nlohmann::json::array();
    nlohmann::json errs = nlohmann::json::object();
    if (auto it = load_errors.find(rf.file); it != load_errors.end())
      for (const auto& [kind, n] : it->second) errs[kind] = n;
    r["errors"] = errs;
    r["load_error"] = {{"kind", rf.kind}, {"message", rf.message}, {"time", rf.time}};
    r["last_error"] = {{"kind", rf.kind}, {"message", rf.message}, {"time", rf.time}};
    j["rules"].push_back(std::move(r));
  }
  // /api/v1/alerts and /api/v1/rules, as Prometheus answers them.
  nlohmann::json alerts = nlohmann::json::array();
  nlohmann::json groups = nlohmann::json::array();
  for (const LoadedRule& s : rules) {
    nlohmann::json group_rules = nlohmann::json::array();
    for (const AlertingRule& a : s.alerts) {
      nlohmann::json instances = nlohmann::json::array();
      for (const auto& [k, al] : a.alerts()) {
        if (al.state == AlertState::kInactive) continue;
        instances.push_back(alertJson(al));
        alerts.push_back(alertJson(al));
      }
      nlohmann::json labels = nlohmann::json::object(), annotations = nlohmann::json::object();
      for (const auto& [n, v] : a.spec().labels) labels[n] = v;
      for (const auto& [n, v] : a.spec().annotations) annotations[n] = v;
      group_rules.push_back({{"state", std::string(alertStateName(a.state()))}, {"name", a.spec().name},
                       {"query", "lua:" + s.rule->name()}, {"duration", a.spec().for_seconds},
                       {"keepFiringFor", a.spec().keep_firing_for_seconds}, {"labels", labels},
                       {"annotations", annotations}, {"alerts", instances},
                       {"health", s.last_error.empty() ? "ok" : "err"}, {"lastError", s.last_error},
                       {"type", "alerting"}, {"lastEvaluation", base::rfc3339(s.last_eval_unix)},
                       {"evaluationTime", s.last_duration}});
    }
    if (s.alerts.empty()) continue;
    groups.push_back({{"name", s.rule->name()}, {"file", s.rule->name()}, {"rules", group_rules},
                      {"interval", s.rule->intervalSeconds()}, {"limit", 0},
                      {"evaluationTime", s.last_duration}, {"lastEvaluation", base::rfc3339(s.last_eval_unix)}});
  }
  nlohmann::json aj = {{"status", "success"}, {"data", {{"alerts", alerts}}}};
  nlohmann::json rj = {{"status", "success"}, {"data", {{"groups", groups}}}};
  return {base::jsonText(j, 2), base::jsonText(aj), base::jsonText(rj)};
}

}  // namespace bpfex::engine
