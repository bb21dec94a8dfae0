#include "engine/alerting.h"

#include <set>

namespace bpfex::engine {

using base::Error;
using base::Result;
using base::Status;

std::string_view alertStateName(AlertState s) {
  switch (s) {
    case AlertState::kInactive: return "inactive";
    case AlertState::kPending: return "pending";
    case AlertState::kFiring: return "firing";
  }
  return "inactive";
}

std::string labelKey(const LabelMap& labels) {
  std::string k;
  for (const auto& [n, v] : labels) {
    k += n;
    k += '\0';
    k += v;
    k += '\0';
  }
  return k;
}

Result<AlertingRule> AlertingRule::create(AlertRuleSpec spec, LabelMap external) {
  AlertingRule r;
  for (const auto& [n, t] : spec.labels) {
    auto tpl = AlertTemplate::parse(t);
    if (!tpl) return std::move(tpl).error().context("alert " + spec.name + " label " + n);
    r.labels_.push_back({n, std::move(tpl).value()});
  }
  for (const auto& [n, t] : spec.annotations) {
    auto tpl = AlertTemplate::parse(t);
    if (!tpl) return std::move(tpl).error().context("alert " + spec.name + " annotation " + n);
    r.annotations_.push_back({n, std::move(tpl).value()});
  }
  r.spec_ = std::move(spec);
  r.external_ = std::move(external);
  return r;
}

void AlertingRule::restoreForState(std::map<std::string, double>& saved, double down_at, double ts, double grace) {
  if (spec_.for_seconds < grace) return;
  for (auto& [key, a] : alerts_) {
    if (a.state != AlertState::kPending) continue;
    auto it = saved.find(key);
    if (it == saved.end()) continue;
    const double restored = it->second;
    const double remaining = spec_.for_seconds - (down_at - restored);
    if (remaining <= 0) a.active_at = restored;                       // it was firing: fires at the next evaluation
    else if (remaining < grace) a.active_at = ts + grace - spec_.for_seconds;  // fires a grace period from now
    else a.active_at = restored + (ts - down_at);                     // the downtime does not count as pending
    saved.erase(it);
  }
}

Status AlertingRule::eval(const std::vector<std::pair<LabelMap, double>>& active, double ts) {
  // The result vector, with the rule's labels applied: identity is the label set.
  std::map<std::string, Alert> now;
  for (const auto& [instance, value] : active) {
    Alert a;
    a.value = value;
    const TemplateData data{&instance, &external_, value};
    a.labels = instance;
    a.labels.erase("__name__");
    for (const auto& l : labels_) {
      const std::string v = l.tpl.expand(data);
      if (v.empty()) a.labels.erase(l.name);  // an empty label is no label
      else a.labels[l.name] = v;
    }
    a.labels["alertname"] = spec_.name;
    for (const auto& an : annotations_) a.annotations[an.name] = an.tpl.expand(data);
    const std::string key = labelKey(a.labels);
    if (now.count(key))
      return Error::msg("alert " + spec_.name + ": vector contains metrics with the same labelset after applying alert labels");
    now.emplace(key, std::move(a));
  }

  for (auto& [key, a] : now) {
    auto it = alerts_.find(key);
    if (it != alerts_.end() && it->second.state != AlertState::kInactive) {
      it->second.value = a.value;
      it->second.annotations = std::move(a.annotations);
    } else {  // new, or resolved and back: a fresh instance
      a.state = AlertState::kPending;
      a.active_at = ts;
      alerts_[key] = std::move(a);
    }
  }

  for (auto it = alerts_.begin(); it != alerts_.end();) {
    Alert& a = it->second;
    if (!now.count(it->first)) {
      bool keep_firing = false;
      if (a.state == AlertState::kFiring && spec_.keep_firing_for_seconds > 0) {
        if (a.keep_firing_since == 0) a.keep_firing_since = ts;
        keep_firing = ts - a.keep_firing_since < spec_.keep_firing_for_seconds;
      }
      if (a.state == AlertState::kPending || (a.resolved_at != 0 && ts - a.resolved_at > kResolvedRetention)) {
        it = alerts_.erase(it);
        continue;
      }
      if (a.state != AlertState::kInactive && !keep_firing) {
        a.state = AlertState::kInactive;
        a.resolved_at = ts;
      }
      if (!keep_firing) {
        ++it;
        continue;
      }
    } else {
      a.keep_firing_since = 0;
    }
    if (a.state == AlertState::kPending && ts - a.active_at >= spec_.for_seconds) {
      a.state = AlertState::kFiring;
      a.fired_at = ts;
    }
    ++it;
  }
  return base::okStatus();
}

AlertState AlertingRule::state() const {
  AlertState s = AlertState::kInactive;
  for (const auto& [k, a] : alerts_)
    if (static_cast<int>(a.state) > static_cast<int>(s)) s = a.state;
  return s;
}

// Prometheus' needsSending: never pending; at once when resolved since the
// last send; otherwise when LastSentAt + resend_delay < ts (strictly).
std::vector<Alert*> AlertingRule::due(double ts, double resend_delay) {
  std::vector<Alert*> out;
  for (auto& [k, a] : alerts_) {
    if (a.state == AlertState::kPending) continue;
    if (a.state == AlertState::kInactive && a.resolved_at == 0) continue;
    if (a.resolved_at > a.last_sent_at || a.last_sent_at + resend_delay < ts) out.push_back(&a);
  }
  return out;
}

}  // namespace bpfex::engine
