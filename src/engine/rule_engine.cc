#include "engine/rule_engine.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "metrics/reserved.h"

namespace bpfex::engine {

using base::Error;
using base::Result;
using base::Status;
using metrics::MetricType;

RuleEngine::RuleEngine(metrics::Registry& registry, lua::DataSource* data, lua::RuleLimits limits)
    : registry_(registry), data_(data), limits_(limits), alert_set_(registry) {
  auto reg = [&](metrics::FamilyOptions o) { return metrics::selfFamily(registry_, std::move(o)); };
  runs_ = reg({.name = "bpfex_rule_runs_total", .help = "Runs of the rule's tick functions.",
               .type = MetricType::kCounter, .label_names = {"rule"}, .expire_unwritten = true});
  errors_ = reg({.name = "bpfex_rule_errors_total",
                 .help = "Rule failures by kind: compile, runtime, timeout, memory, metric (a rejected write).",
                 .type = MetricType::kCounter, .label_names = {"rule", "kind"}, .expire_unwritten = true});
  duration_ = reg({.name = "bpfex_rule_duration_seconds", .help = "Time the rule's last run took.",
                   .unit = "seconds", .label_names = {"rule"}, .expire_unwritten = true});
  memory_ = reg({.name = "bpfex_rule_memory_bytes", .help = "Memory the rule's Lua state holds.",
                 .unit = "bytes", .label_names = {"rule"}, .expire_unwritten = true});
  loaded_ = reg({.name = "bpfex_rules_loaded", .help = "Rules loaded."});
  skipped_ = reg({.name = "bpfex_rule_skipped_runs_total",
                  .help = "Runs of a rule that keeps hitting its time budget not started: it waits (backoff, "
                          "doubling to 32 ticks) or the tick's time for such rules was used (tick_deadline).",
                  .type = MetricType::kCounter, .label_names = {"rule", "reason"}, .expire_unwritten = true});
  history_series_ = reg({.name = "bpfex_rule_history_series",
                         .help = "Series whose tick-resolution history is kept for the rules' range() selectors."});
  history_samples_ = reg({.name = "bpfex_rule_history_samples",
                          .help = "Samples kept for the rules' range() selectors."});
  history_dropped_ = reg({.name = "bpfex_rule_history_series_dropped_total",
                          .help = "Refusals by the rules' range() history: a new series over the series or "
                                  "sample cap (counted at each tick it is refused), and each series of a metric whose "
                                  "history was dropped whole at the sample cap.",
                          .type = MetricType::kCounter});
  reload_ok_ = reg({.name = "bpfex_config_last_reload_successful",
                    .help = "Whether the last configuration and rules reload succeeded."});
  reload_time_ = reg({.name = "bpfex_config_last_reload_success_timestamp_seconds",
                      .help = "When the last successful reload happened.", .unit = "seconds"});
}

RuleEngine::~RuleEngine() = default;

std::vector<std::string> RuleEngine::admit(const std::vector<const lua::Rule*>& candidates,
                                           const metrics::Registry& registry,
                                           const std::set<std::string>& replaced_names, size_t max_total) {
  // The families that remain: everything in the registry except what the
  // replaced rules declared. Candidates must fit beside them and each other;
  // one that does not is refused whole (what it added is taken back).
  metrics::Registry scratch({.max_series = SIZE_MAX, .max_series_per_family = SIZE_MAX});
  for (const auto& f : registry.families())
    if (!replaced_names.count(f->name())) (void)scratch.family(f->options());
  std::map<std::string, std::string> owner;
  std::vector<std::string> why(candidates.size());
  size_t total = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const lua::Rule* r = candidates[i];
    if (r == nullptr) continue;
    std::string errors;
    if (auto a = AlertSet::make(*r); !a) errors += a.error().message() + "\n";
    if (total + r->declarations().size() > max_total)
      errors += r->name() + ": " + std::to_string(r->declarations().size()) + " metric families would bring the rules' total over " +
                std::to_string(max_total) + " (rule_limits.max_families_total)\n";
    std::vector<std::string> added;
    for (size_t di = 0; di < r->declarations().size(); ++di) {
      const metrics::FamilyOptions& d = r->declarations()[di];
      if (!errors.empty()) break;
      // "file:line: " of the declaration, so check and reloads point at it.
      const int line = r->declarationLine(di);
      const std::string at = r->name() + (line > 0 ? ":" + std::to_string(line) : "") + ": ";
      if (auto it = owner.find(d.name); it != owner.end()) {
        errors += at + "metric " + d.name + " is also declared by " + it->second + "\n";
        break;
      }
      if (const std::string res = metrics::reservedReason(d.name); !res.empty()) {
        errors += at + res + "\n";
        break;
      }
      if (scratch.find(d.name) != nullptr) {
        errors += at + "metric " + d.name + " is one of bpfex's own metrics\n";
        break;
      }
      if (auto f = scratch.family(d); !f) {
        errors += at + f.error().message() + "\n";
        break;
      }
      added.push_back(d.name);
    }
    if (errors.empty()) {
      for (const auto& n : added) owner[n] = r->name();
      total += r->declarations().size();
    } else {
      for (const auto& n : added) scratch.unregister(n);
      errors.pop_back();
      why[i] = std::move(errors);
    }
  }
  return why;
}

Status RuleEngine::validate(const std::vector<std::unique_ptr<lua::Rule>>& rules, const metrics::Registry& registry,
                            const std::vector<std::unique_ptr<lua::Rule>>& replaced, size_t max_total) {
  std::set<std::string> replaced_names;
  for (const auto& r : replaced)
    for (const auto& d : r->declarations()) replaced_names.insert(d.name);
  std::vector<const lua::Rule*> candidates;
  for (const auto& r : rules) candidates.push_back(r.get());
  std::string errors;
  for (const auto& w : admit(candidates, registry, replaced_names, max_total))
    if (!w.empty()) errors += w + "\n";
  if (!errors.empty()) {
    errors.pop_back();
    return Error::msg(errors);
  }
  return base::okStatus();
}

Status RuleEngine::reload(const std::vector<std::string>& paths) {
  const double now = base::unixSeconds();
  auto done = [this, now](Status st) {
    reload_.ok = st.ok();
    reload_.error = st.ok() ? "" : st.error().message();
    reload_.time = now;
    if (st.ok()) {
      reload_.success_time = now;
      (void)reload_time_->set({}, now);
    } else {
      BPFEX_LOG_ERROR("reload: {}", reload_.error);
    }
    (void)reload_ok_->set({}, st.ok() ? 1 : 0);
    publishStatus();
    return st;
  };
  auto files = ruleFiles(paths);
  if (!files) return done(std::move(files).error());

  // Each file on its own: one that fails to compile, or to run its top level
  // within its budget and cap, is refused; the others load. A refused file
  // that was loaded before keeps running as it was (the last good state).
  struct Candidate {
    std::string file;
    std::unique_ptr<lua::Rule> fresh;
    int old = -1;  // index into rules_ of the running version, if any
    std::string kind, error;
    bool keep_old = false;  // fresh refused: run the old version
  };
  std::vector<Candidate> cands;
  for (const auto& f : files.value()) {
    Candidate c;
    c.file = f;
    for (size_t i = 0; i < rules_.size(); ++i)
      if (rules_[i].rule->name() == f) c.old = static_cast<int>(i);
    auto r = compileRule(f, limits_, params_);
    if (r) {
      c.fresh = std::move(r).value();
    } else {
      c.kind = std::string(lua::errorKindName(lua::loadErrorKind(r.error())));
      c.error = r.error().message();
      c.keep_old = c.old >= 0;
    }
    cands.push_back(std::move(c));
  }

  // Admission against the registry without any rule's families: first the
  // fresh versions; a refused one falls back to its running version, and the
  // set is admitted again with it.
  std::set<std::string> replaced_names;
  for (const auto& s : rules_)
    for (const auto& d : s.rule->declarations()) replaced_names.insert(d.name);
  auto pick = [&](const Candidate& c) -> const lua::Rule* {
    if (c.fresh && !c.keep_old) return c.fresh.get();
    return c.keep_old ? rules_[static_cast<size_t>(c.old)].rule.get() : nullptr;
  };
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<const lua::Rule*> picked;
    for (const auto& c : cands) picked.push_back(pick(c));
    const auto why = admit(picked, registry_, replaced_names, max_families_total_);
    bool retry = false;
    for (size_t i = 0; i < cands.size(); ++i) {
      Candidate& c = cands[i];
      if (why[i].empty()) continue;
      if (c.fresh && !c.keep_old) {
        c.kind = "limit";
        c.error = why[i];
        c.fresh.reset();
        c.keep_old = c.old >= 0;
        retry = retry || c.keep_old;
      } else if (c.keep_old) {
        // The running version no longer fits beside the rest: it stops.
        c.keep_old = false;
        c.error += "\n" + why[i];
      }
    }
    if (!retry) break;
  }

  // Swap: families the new set does not declare identically go; the others
  // (and their series) stay. Kept versions keep theirs as they are.
  std::map<std::string, const metrics::FamilyOptions*> next;
  for (const auto& c : cands)
    if (const lua::Rule* r = pick(c))
      for (const auto& d : r->declarations()) next[d.name] = &d;
  for (const auto& s : rules_)
    for (const auto& d : s.rule->declarations()) {
      auto it = next.find(d.name);
      metrics::Family* f = registry_.find(d.name);
      const bool same = it != next.end() && f != nullptr && f->options().type == it->second->type &&
                        f->options().label_names == it->second->label_names &&
                        f->options().buckets == it->second->buckets && f->options().quantiles == it->second->quantiles;
      if (!same) registry_.unregister(d.name);
    }
  std::vector<LoadedRule> fresh;
  std::vector<RefusedRule> refused;
  std::string errors;
  for (auto& c : cands) {
    if (!c.error.empty()) {
      ++load_errors_[c.file][c.kind];
      errors += c.error + (c.keep_old ? "\n  (" + c.file + ": the previously loaded version keeps running)" : "") + "\n";
    }
    if (c.keep_old) {
      LoadedRule s = std::move(rules_[static_cast<size_t>(c.old)]);
      s.load_error = c.error;
      s.load_error_kind = c.kind;
      fresh.push_back(std::move(s));
      continue;
    }
    if (!c.fresh) {
      refused.push_back({c.file, c.kind, c.error, now});
      continue;
    }
    if (auto st = c.fresh->bind(registry_); !st) {
      // Admission makes this unreachable; if it happens, say so loudly.
      BPFEX_LOG_ERROR("{}", st.error().message());
      refused.push_back({c.file, "limit", st.error().message(), now});
      errors += st.error().message() + "\n";
      continue;
    }
    LoadedRule s;
    s.alerts = AlertSet::make(*c.fresh, external_labels_).value();  // admitted above
    if (c.old >= 0) {
      // Carry run/error counts and alert instances over for a file that stays.
      const LoadedRule& o = rules_[static_cast<size_t>(c.old)];
      s.runs = o.runs;
      s.errors = o.errors;
      s.last_error = o.last_error;
      s.last_error_kind = o.last_error_kind;
      s.last_error_time = o.last_error_time;
      for (auto& a : s.alerts)
        for (const auto& oa : o.alerts)
          if (oa.spec().name == a.spec().name) a.inheritFrom(oa);
    }
    s.rule = std::move(c.fresh);
    fresh.push_back(std::move(s));
  }
  rules_ = std::move(fresh);
  refused_ = std::move(refused);
  watchRanges();
  (void)loaded_->set({}, static_cast<double>(rules_.size()));
  BPFEX_LOG_INFO("rules loaded: {}{}", rules_.size(),
                 refused_.empty() ? "" : ", refused: " + std::to_string(refused_.size()));
  if (!errors.empty()) {
    errors.pop_back();
    return done(Error::msg(errors));
  }
  return done(base::okStatus());
}

// A rule with its own interval runs on that interval's grid, as a
// Prometheus rule group evaluates: slots at first + k * interval, whatever
// the moment in the tick its run starts (it drifts by milliseconds with the
// collectors before it). A tick within half a tick of a slot takes it; slots
// that went by unrun (a stopped process, a long tick) are skipped, not
// caught up in a burst.
bool RuleEngine::dueNow(LoadedRule& s, double now) const {
  const double iv = s.rule->intervalSeconds();
  if (iv <= 0) return true;
  const double slack = std::min(tick_interval_, iv) / 2;
  if (s.next_due >= 0 && now < s.next_due - slack) return false;
  s.next_due = s.next_due < 0 ? now + iv : s.next_due + iv;
  if (s.next_due - slack <= now) s.next_due += std::floor((now - s.next_due + slack) / iv + 1) * iv;
  return true;
}

// Slow rules do not slow the others. A rule whose last run hit its time
// budget is an offender until a run completes within it:
//   - it waits 1, 2, 4, ... up to 32 ticks before its next run (backoff), so
//     a rule that loops costs its budget once in 32 ticks, not every tick;
//   - when it may run, it runs after every healthy rule, and only while the
//     tick has used less than half its interval on rules, offenders least
//     recently run first; otherwise it waits for the next tick.
// Healthy rules therefore always run, on their grid, and a tick's rules take
// at most half the interval plus one offender's budget. Skipped runs are
// counted (bpfex_rule_skipped_runs_total) and shown on /rules
// (health "backoff"). An offender keeps its last series meanwhile.
void RuleEngine::runSchedule(const lua::TickContext& ctx) {
  const double start = base::monotonicSeconds();
  auto runIfDue = [&](LoadedRule& s) {
    if (!dueNow(s, ctx.now_mono)) {
      for (metrics::Family* f : s.rule->families()) f->touchAll();
      return;
    }
    const lua::ErrorKind kind = runRule(s, ctx);
    const bool completed = kind == lua::ErrorKind::kNone || kind == lua::ErrorKind::kMetric;
    if (kind == lua::ErrorKind::kTimeout) {
      ++s.timeouts_in_a_row;
      s.backoff_until_tick = ctx.tick + 1 + (1ull << std::min<uint32_t>(s.timeouts_in_a_row - 1, 5));
    } else {
      s.timeouts_in_a_row = 0;
    }
    // A run that completed (even with rejected writes) has written what it
    // produces; its alerts evaluate on what it fired.
    if (completed) evaluateAlerts(s, ctx);
  };
  auto skip = [&](LoadedRule& s, const char* reason) {
    ++s.skipped[reason];
    for (metrics::Family* f : s.rule->families()) f->touchAll();
  };
  std::vector<LoadedRule*> offenders;
  for (LoadedRule& s : rules_) {
    if (s.timeouts_in_a_row == 0) runIfDue(s);
    else offenders.push_back(&s);
  }
  std::stable_sort(offenders.begin(), offenders.end(),
                   [](const LoadedRule* a, const LoadedRule* b) { return a->last_run < b->last_run; });
  for (LoadedRule* s : offenders) {
    if (ctx.tick < s->backoff_until_tick) skip(*s, "backoff");
    else if (base::monotonicSeconds() - start >= tick_interval_ / 2) skip(*s, "tick_deadline");
    else runIfDue(*s);
  }
}

lua::ErrorKind RuleEngine::runRule(LoadedRule& s, const lua::TickContext& ctx) {
  const int64_t t0 = base::monotonicNanos();
  lua::RunResult res = s.rule->run(ctx);
  s.last_duration = static_cast<double>(base::monotonicNanos() - t0) / 1e9;
  s.last_run = ctx.now_mono;
  ++s.runs;
  if (res.kind != lua::ErrorKind::kNone) {
    const std::string kind(lua::errorKindName(res.kind));
    recordError(s, kind, res.kind == lua::ErrorKind::kMetric ? res.metric_errors : 1, res.message, ctx.now_unix);
    BPFEX_LOG_WARN("rule {}: {} error: {}", s.rule->name(), kind, res.message);
  }
  if (res.kind == lua::ErrorKind::kNone || res.kind == lua::ErrorKind::kMetric) return res.kind;
  // A failed run keeps the rule's last good series (and its alerts' state).
  for (metrics::Family* f : s.rule->families()) f->touchAll();
  return res.kind;
}

void RuleEngine::evaluateAlerts(LoadedRule& s, const lua::TickContext& ctx) {
  const double iv = s.rule->intervalSeconds() > 0 ? s.rule->intervalSeconds() : tick_interval_;
  for (const std::string& e : alert_set_.evaluate(s.rule->name(), s.alerts, s.rule->fired(), ctx.now_unix, iv))
    recordError(s, "alert", 1, e, ctx.now_unix);
  s.last_eval_unix = ctx.now_unix;
}

void RuleEngine::recordError(LoadedRule& s, const std::string& kind, uint64_t n, const std::string& message, double now) {
  s.errors[kind] += n;
  s.last_error = message;
  s.last_error_kind = kind;
  s.last_error_time = now;
}

void RuleEngine::watchRanges() {
  std::map<std::string, int64_t> ranges;
  for (const LoadedRule& s : rules_)
    for (const auto& r : s.rule->ranges()) ranges[r.metric] = std::max(ranges[r.metric], r.range_ms);
  history_.setWatched(ranges);
}

Collector RuleEngine::collector(Engine& engine) {
  if (!observing_) {
    observing_ = true;
    engine.addObserver([this](const metrics::Registry& reg) {
      history_.record(reg, lua::toMillis(last_tick_mono_));
      (void)history_series_->set({}, static_cast<double>(history_.series()));
      (void)history_samples_->set({}, static_cast<double>(history_.samples()));
      (void)history_dropped_->set({}, static_cast<double>(history_.dropped()));
    });
  }
  return Collector([this, &engine](metrics::Registry&) -> Status {
    lua::TickContext ctx;
    ctx.tick = engine.ticks() + 1;
    ctx.now_unix = unix_ ? unix_() : base::unixSeconds();
    ctx.now_mono = mono_ ? mono_() : base::monotonicSeconds();
    last_tick_mono_ = ctx.now_mono;
    ctx.history = &history_;
    ctx.data = data_;
    ctx.state_dir = state_dir_;
    ctx.restarts = restarts_;
    if (data_ != nullptr) data_->beginTick(ctx.tick);
    runSchedule(ctx);
    std::vector<RuleAlerts> alerts;
    alerts.reserve(rules_.size());
    for (LoadedRule& s : rules_) {
      writeSelfMetrics(s);
      alerts.push_back({&s.rule->name(), &s.alerts});
    }
    // Refused files have no rule to run, but their failures stay counted.
    for (const RefusedRule& rf : refused_)
      if (auto it = load_errors_.find(rf.file); it != load_errors_.end())
        for (const auto& [kind, n] : it->second) (void)errors_->set({rf.file, kind}, static_cast<double>(n));
    alert_set_.afterTick(alerts, ctx.now_unix);
    publishStatus();
    return base::okStatus();
  });
}

void RuleEngine::writeSelfMetrics(const LoadedRule& s) {
  const std::string& name = s.rule->name();
  (void)runs_->set({name}, static_cast<double>(s.runs));
  (void)duration_->set({name}, s.last_duration);
  (void)memory_->set({name}, static_cast<double>(s.rule->memoryBytes()));
  std::map<std::string, uint64_t> errs = s.errors;
  if (auto it = load_errors_.find(name); it != load_errors_.end())
    for (const auto& [kind, n] : it->second) errs[kind] += n;
  for (const auto& [kind, n] : errs) (void)errors_->set({name, kind}, static_cast<double>(n));
  for (const auto& [reason, n] : s.skipped) (void)skipped_->set({name, reason}, static_cast<double>(n));
}

void RuleEngine::setState(std::string dir, uint64_t restarts, double grace, double outage_tolerance) {
  state_dir_ = dir;
  restarts_ = restarts;
  alert_set_.setStateDir(std::move(dir), grace, outage_tolerance);
}

void RuleEngine::publishStatus() {
  StatusDocuments docs = renderStatus(rules_, refused_, load_errors_, reload_);
  std::lock_guard lock(status_mu_);
  status_ = std::move(docs);
}

std::string RuleEngine::alertsJson() const {
  std::lock_guard lock(status_mu_);
  return status_.alerts;
}

std::string RuleEngine::rulesJson() const {
  std::lock_guard lock(status_mu_);
  return status_.rules;
}

std::string RuleEngine::statusJson() const {
  std::lock_guard lock(status_mu_);
  return status_.status;
}

}  // namespace bpfex::engine
