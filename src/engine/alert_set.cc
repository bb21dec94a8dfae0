#include "engine/alert_set.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "base/file.h"
#include "base/json_text.h"
#include "base/log.h"
#include "metrics/reserved.h"

namespace bpfex::engine {

using base::Error;
using base::Result;
using base::Status;

AlertSet::AlertSet(metrics::Registry& registry)
    : alerts_series_(metrics::selfFamily(registry, {.name = "ALERTS", .help = "Pending and firing alerts of the loaded rules.",
                                                    .expire_unwritten = true, .free_labels = true})),
      alerts_for_state_(metrics::selfFamily(
          registry, {.name = "ALERTS_FOR_STATE", .help = "When each pending or firing alert became active (Unix seconds).",
                     .expire_unwritten = true, .free_labels = true})),
      state_errors_(metrics::selfFamily(
          registry, {.name = "bpfex_state_write_errors_total",
                     .help = "Failed writes of a state file (a full or read-only state_dir), by file.",
                     .type = metrics::MetricType::kCounter, .label_names = {"file"}})) {}

Result<std::vector<AlertingRule>> AlertSet::make(const lua::Rule& r, const LabelMap& external) {
  std::vector<AlertingRule> out;
  for (const auto& d : r.alerts()) {
    auto a = AlertingRule::create({.name = d.name, .for_seconds = d.for_seconds,
                                   .keep_firing_for_seconds = d.keep_firing_for_seconds,
                                   .labels = d.labels, .annotations = d.annotations},
                                  external);
    if (!a) return Error::msg(r.name() + ":" + std::to_string(d.line) + ": " + a.error().message());
    out.push_back(std::move(a).value());
  }
  return out;
}

void AlertSet::setStateDir(std::string dir, double grace, double outage_tolerance) {
  state_dir_ = std::move(dir);
  grace_ = grace;
  outage_tolerance_ = outage_tolerance;
  saved_.clear();
  if (state_dir_.empty()) return;
  const std::string path = state_dir_ + "/alerts_for_state.json";
  auto text = base::readFile(path, 16u << 20);
  if (!text) return;
  auto j = nlohmann::json::parse(text.value(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j["written_at"].is_number() || !j["alerts"].is_array()) {
    // Set aside, not deleted (someone may want to read it), and never in
    // the way of the next write.
    const bool kept = std::rename(path.c_str(), (path + ".corrupt").c_str()) == 0;
    BPFEX_LOG_WARN("{}: not what bpfex writes (truncated or corrupt){}; alert for-state is not restored", path,
                   kept ? ", set aside as alerts_for_state.json.corrupt" : "");
    return;
  }
  saved_down_at_ = j["written_at"].get<double>();
  for (const auto& a : j["alerts"]) {
    if (!a.is_object() || !a["labels"].is_object() || !a["active_at"].is_number() || !a["rule"].is_string() ||
        !a["alert"].is_string())
      continue;
    LabelMap labels;
    for (const auto& [k, v] : a["labels"].items())
      if (v.is_string()) labels[k] = v.get<std::string>();
    saved_[a["rule"].get<std::string>() + "\n" + a["alert"].get<std::string>()][labelKey(labels)] =
        a["active_at"].get<double>();
  }
}

std::vector<std::string> AlertSet::evaluate(const std::string& rule, std::vector<AlertingRule>& alerts,
                                            const std::vector<lua::AlertFiring>& fired, double now, double interval) {
  std::vector<std::string> errors;
  std::vector<std::vector<std::pair<LabelMap, double>>> by_alert(alerts.size());
  for (const auto& f : fired) by_alert[f.decl].emplace_back(LabelMap(f.labels.begin(), f.labels.end()), f.value);
  for (size_t i = 0; i < alerts.size(); ++i) {
    const Status st = alerts[i].eval(by_alert[i], now);
    if (!st) {
      errors.push_back(st.error().message());
      continue;
    }
    if (saved_.empty()) continue;
    auto it = saved_.find(rule + "\n" + alerts[i].spec().name);
    if (it != saved_.end() && now - saved_down_at_ <= outage_tolerance_) {
      alerts[i].restoreForState(it->second, saved_down_at_, now, grace_);
      if (it->second.empty()) saved_.erase(it);
    }
  }
  if (!sink_) return errors;
  // Firing alerts are valid for 4 x max(evaluation interval, resend delay):
  // if bpfex stops sending, Alertmanager resolves them itself.
  const double valid = 4 * std::max(interval, options_.resend_delay_seconds);
  std::vector<SentAlert> out;
  for (AlertingRule& a : alerts)
    for (Alert* al : a.due(now, options_.resend_delay_seconds)) {
      SentAlert sa;
      sa.labels = al->labels;
      for (const auto& [k, v] : options_.external_labels) sa.labels.emplace(k, v);  // rule labels win
      sa.annotations = al->annotations;
      sa.starts_at = al->fired_at;
      sa.ends_at = al->state == AlertState::kFiring ? now + valid : al->resolved_at;
      al->last_sent_at = now;
      out.push_back(std::move(sa));
    }
  if (!out.empty()) sink_(std::move(out));
  return errors;
}

void AlertSet::afterTick(std::span<const RuleAlerts> rules, double now) {
  writeSeries(rules);
  persist(rules, now);
}

void AlertSet::writeSeries(std::span<const RuleAlerts> rules) {
  // ALERTS and ALERTS_FOR_STATE exist while an instance is pending or firing.
  for (const RuleAlerts& r : rules)
    for (const AlertingRule& a : *r.alerts)
      for (const auto& [key, al] : a.alerts()) {
        if (al.state == AlertState::kInactive) continue;
        std::vector<std::pair<std::string, std::string>> l(al.labels.begin(), al.labels.end());
        (void)alerts_for_state_->setLabeled(l, al.active_at);
        l.emplace_back("alertstate", std::string(alertStateName(al.state)));
        (void)alerts_series_->setLabeled(l, 1);
      }
}

void AlertSet::persist(std::span<const RuleAlerts> rules, double now) {
  if (state_dir_.empty()) return;
  nlohmann::json list = nlohmann::json::array();
  for (const RuleAlerts& r : rules)
    for (const AlertingRule& a : *r.alerts)
      for (const auto& [key, al] : a.alerts())
        if (al.state != AlertState::kInactive)
          list.push_back({{"rule", *r.rule}, {"alert", a.spec().name}, {"labels", al.labels}, {"active_at", al.active_at}});
  // Written every evaluation while anything is active (written_at is when
  // bpfex was last seen up); once more when the last instance goes.
  const std::string body = base::jsonText(list);
  if (list.empty() && body == last_written_) return;
  last_written_ = body;
  const std::string text = base::jsonText(nlohmann::json{{"written_at", now}, {"alerts", std::move(list)}}) + "\n";
  // A full or read-only state_dir: said when it starts failing and when it
  // works again, counted every time; the next evaluation tries again.
  if (auto st = base::writeFileAtomic(state_dir_ + "/alerts_for_state.json", text); !st) {
    ++state_write_errors_;
    if (!state_failing_) BPFEX_LOG_WARN("alert for-state: {}; retried every evaluation", st.error().message());
    state_failing_ = true;
    last_written_.clear();  // not written: write it again next time
  } else if (state_failing_) {
    state_failing_ = false;
    BPFEX_LOG_INFO("alert for-state: written again to {}", state_dir_);
  }
  (void)state_errors_->set({"alerts_for_state.json"}, static_cast<double>(state_write_errors_));
}

}  // namespace bpfex::engine
