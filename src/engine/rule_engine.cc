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

Result<std::vector<std::string>> ruleFiles(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> dir;
      for (const auto& e : fs::directory_iterator(p, ec))
        if (e.is_regular_file() && e.path().extension() == ".lua") dir.push_back(e.path().string());
      if (ec) return Error::fromErrno(ec.value(), "list rules directory " + p);
      std::sort(dir.begin(), dir.end());
      files.insert(files.end(), dir.begin(), dir.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      return Error(ENOENT, "rules: " + p + ": no such file or directory");
    }
  }
  return files;
}

Result<std::unique_ptr<lua::Rule>> compileRule(const std::string& file, const lua::RuleLimits& limits,
                                               const std::map<std::string, std::string>& params) {
  // A rule file is text an operator wrote: 4 MiB is far beyond any real one
  // and keeps a stray binary from reaching the parser.
  auto text = base::readFile(file, 4u << 20);
  if (!text) return std::move(text).error().context("read rule");
  return lua::Rule::load(file, text.value(), limits, params);
}

Result<std::vector<std::unique_ptr<lua::Rule>>> compileRules(const std::vector<std::string>& files,
                                                             const lua::RuleLimits& limits,
                                                             const std::map<std::string, std::string>& params) {
  std::vector<std::unique_ptr<lua::Rule>> rules;
  std::string errors;
  for (const auto& f : files) {
    auto r = compileRule(f, limits, params);
    if (!r) {
      errors += r.error().message() + "\n";
      continue;
    }
    rules.push_back(std::move(r).value());
  }
  if (!errors.empty()) {
    errors.pop_back();
    return Error::msg(errors);
  }
  return rules;
}

// ---- data source ---------------------------------------------------------------

Result<lua::MapView> BpfDataSource::mapView(const std::string& name) {
  BpfRuntime::MapEntry* e = rt_.findMap(name);
  if (e == nullptr) return Error(ENOENT, "bpf map \"" + name + "\" is not configured (bpf.objects or bpf.maps)");
  auto rd = rt_.read(*e, tick_);
  if (!rd) return std::move(rd).error();
  auto kl = rt_.keyLayout(*e);
  if (!kl) return std::move(kl).error();
  auto vl = rt_.valueLayout(*e);
  if (!vl) return std::move(vl).error();
  const bpf::MapReader* r = rd.value();
  lua::MapView v;
  v.keys = r->keys();
  v.count = r->count();
  v.key_size = r->keySize();
  v.key_layout = kl.value();
  v.value_layout = vl.value();
  v.info = &e->map->info();
  if (e->map->perCpu()) {
    // Rules see one value per entry: the per-CPU copies summed, once per
    // tick, integers widened to 64 bits (bpf::PerCpuSum).
    Summed& s = summed_[name];
    if (s.from != vl.value()) {
      s.plan = std::make_unique<bpf::PerCpuSum>(*vl.value());
      s.from = vl.value();
      s.tick = 0;
    }
    const uint32_t vsize = s.plan->layout().size();
    if (s.tick != tick_ || s.values.size() < r->count() * vsize) {
      const base::Stopwatch sw;
      if (s.values.size() < r->count() * vsize) s.values.resize(r->count() * vsize);
      for (size_t i = 0; i < r->count(); ++i) s.plan->sum(*r, i, s.values.data() + i * vsize);
      s.tick = tick_;
      rt_.addReadTime(sw.wall(), sw.cpu());
    }
    v.value_layout = &s.plan->layout();
    v.values = s.values.data();
    v.value_size = vsize;
  } else {
    v.values = r->values();
    v.value_size = r->valueStride();
  }
  return v;
}

Result<const bpf::EventReader*> BpfDataSource::events(const std::string& name) {
  BpfRuntime::MapEntry* e = rt_.findMap(name);
  if (e == nullptr) return Error(ENOENT, "bpf event map \"" + name + "\" is not configured");
  return rt_.events(*e, tick_);
}

std::vector<lua::ProgramView> BpfDataSource::programs() {
  std::vector<lua::ProgramView> out;
  const bool counting = rt_.statsActive() || bpf::globalBpfStatsEnabled();
  for (const auto& op : rt_.programs(tick_)) {  // errors are counted by the runtime's collector
    const auto att = op.object->attached();
    for (const auto& p : op.stats) {
      lua::ProgramView v{.object = op.object->spec().name, .name = p.name, .type = p.type, .id = p.id, .stats = counting,
                         .run_count = p.run_count, .run_time_ns = p.run_time_ns, .attached = {}};
      for (const auto& a : att)
        if (a.program == p.name) v.attached.push_back({std::string(bpf::attachTypeName(a.type)), a.target, a.netns});
      out.push_back(std::move(v));
    }
  }
  return out;
}

// ---- rule engine -----------------------------------------------------------------

RuleEngine::RuleEngine(metrics::Registry& registry, lua::DataSource* data, lua::RuleLimits limits)
    : registry_(registry), data_(data), limits_(limits) {
  auto reg = [&](metrics::FamilyOptions o) {
    auto f = registry_.family(std::move(o));
    if (!f) {
      BPFEX_LOG_ERROR("rule self-metrics: {}", f.error().message());
      std::abort();
    }
    return f.value();
  };
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
  alerts_series_ = reg({.name = "ALERTS", .help = "Pending and firing alerts of the loaded rules.",
                        .expire_unwritten = true, .free_labels = true});
  alerts_for_state_ = reg({.name = "ALERTS_FOR_STATE", .help = "When each pending or firing alert became active (Unix seconds).",
                           .expire_unwritten = true, .free_labels = true});
}

Result<std::vector<AlertingRule>> RuleEngine::makeAlerts(const lua::Rule& r, const LabelMap& external) {
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
    if (auto a = makeAlerts(*r); !a) errors += a.error().message() + "\n";
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
    last_reload_ok_ = st.ok();
    last_reload_error_ = st.ok() ? "" : st.error().message();
    last_reload_time_ = now;
    if (st.ok()) {
      last_reload_success_time_ = now;
      (void)reload_time_->set({}, now);
    } else {
      BPFEX_LOG_ERROR("reload: {}", last_reload_error_);
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
  std::vector<State> fresh;
  std::vector<Refused> refused;
  std::string errors;
  for (auto& c : cands) {
    if (!c.error.empty()) {
      ++load_errors_[c.file][c.kind];
      errors += c.error + (c.keep_old ? "\n  (" + c.file + ": the previously loaded version keeps running)" : "") + "\n";
    }
    if (c.keep_old) {
      State s = std::move(rules_[static_cast<size_t>(c.old)]);
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
    State s;
    s.alerts = makeAlerts(*c.fresh, alerting_.external_labels).value();  // admitted above
    if (c.old >= 0) {
      // Carry run/error counts and alert instances over for a file that stays.
      const State& o = rules_[static_cast<size_t>(c.old)];
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

void RuleEngine::runRule(State& s, const lua::TickContext& ctx) {
  const int64_t t0 = base::monotonicNanos();
  lua::RunResult res = s.rule->run(ctx);
  s.last_duration = static_cast<double>(base::monotonicNanos() - t0) / 1e9;
  s.last_run = ctx.now_mono;
  ++s.runs;
  if (res.kind != lua::ErrorKind::kNone) {
    const std::string kind(lua::errorKindName(res.kind));
    s.errors[kind] += res.kind == lua::ErrorKind::kMetric ? res.metric_errors : 1;
    s.last_error = res.message;
    s.last_error_kind = kind;
    s.last_error_time = ctx.now_unix;
    BPFEX_LOG_WARN("rule {}: {} error: {}", s.rule->name(), kind, res.message);
  }
  // Alerts evaluate on what the run fired; a failed run leaves their state.
  if (res.kind == lua::ErrorKind::kNone || res.kind == lua::ErrorKind::kMetric) {
    std::vector<std::vector<std::pair<LabelMap, double>>> by_alert(s.alerts.size());
    for (const auto& f : s.rule->fired())
      by_alert[f.decl].emplace_back(LabelMap(f.labels.begin(), f.labels.end()), f.value);
    for (size_t i = 0; i < s.alerts.size(); ++i) {
      const Status st = s.alerts[i].eval(by_alert[i], ctx.now_unix);
      if (st && !saved_for_state_.empty()) {
        auto it = saved_for_state_.find(s.rule->name() + "\n" + s.alerts[i].spec().name);
        if (it != saved_for_state_.end() && ctx.now_unix - saved_down_at_ <= for_outage_tolerance_) {
          s.alerts[i].restoreForState(it->second, saved_down_at_, ctx.now_unix, for_grace_);
          if (it->second.empty()) saved_for_state_.erase(it);
        }
      }
      if (!st) {
        s.errors["alert"] += 1;
        s.last_error = st.error().message();
        s.last_error_kind = "alert";
        s.last_error_time = ctx.now_unix;
      }
    }
    s.last_eval_unix = ctx.now_unix;
    if (sink_) {
      // Firing alerts are valid for 4 x max(evaluation interval, resend
      // delay): if bpfex stops sending, Alertmanager resolves them itself.
      const double iv = s.rule->intervalSeconds() > 0 ? s.rule->intervalSeconds() : tick_interval_;
      const double valid = 4 * std::max(iv, alerting_.resend_delay_seconds);
      std::vector<SentAlert> out;
      for (AlertingRule& a : s.alerts)
        for (Alert* al : a.due(ctx.now_unix, alerting_.resend_delay_seconds)) {
          SentAlert sa;
          sa.labels = al->labels;
          for (const auto& [k, v] : alerting_.external_labels) sa.labels.emplace(k, v);  // rule labels win
          sa.annotations = al->annotations;
          sa.starts_at = al->fired_at;
          sa.ends_at = al->state == AlertState::kFiring ? ctx.now_unix + valid : al->resolved_at;
          al->last_sent_at = ctx.now_unix;
          out.push_back(std::move(sa));
        }
      if (!out.empty()) sink_(std::move(out));
    }
  }
  // A failed run keeps the rule's last good series; a run that completed
  // (even with rejected writes) has written what it produces.
  if (res.kind != lua::ErrorKind::kNone && res.kind != lua::ErrorKind::kMetric)
    for (metrics::Family* f : s.rule->families()) f->touchAll();
}

void RuleEngine::watchRanges() {
  std::map<std::string, int64_t> ranges;
  for (const State& s : rules_)
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
    if (auto* bds = dynamic_cast<BpfDataSource*>(data_)) bds->setTick(ctx.tick);
    for (State& s : rules_) {
      const double iv = s.rule->intervalSeconds();
      const bool due = s.last_run < 0 || iv <= 0 || ctx.now_mono - s.last_run >= iv - 1e-3;
      if (due) runRule(s, ctx);
      else
        for (metrics::Family* f : s.rule->families()) f->touchAll();
      const std::string& name = s.rule->name();
      (void)runs_->set({name}, static_cast<double>(s.runs));
      (void)duration_->set({name}, s.last_duration);
      (void)memory_->set({name}, static_cast<double>(s.rule->memoryBytes()));
      std::map<std::string, uint64_t> errs = s.errors;
      if (auto it = load_errors_.find(name); it != load_errors_.end())
        for (const auto& [kind, n] : it->second) errs[kind] += n;
      for (const auto& [kind, n] : errs) (void)errors_->set({name, kind}, static_cast<double>(n));
    }
    // Refused files have no rule to run, but their failures stay counted.
    for (const Refused& rf : refused_)
      if (auto it = load_errors_.find(rf.file); it != load_errors_.end())
        for (const auto& [kind, n] : it->second) (void)errors_->set({rf.file, kind}, static_cast<double>(n));
    writeAlertSeries();
    persistForState(ctx.now_unix);
    publishStatus();
    return base::okStatus();
  });
}

void RuleEngine::setState(std::string dir, uint64_t restarts, double grace, double outage_tolerance) {
  state_dir_ = std::move(dir);
  restarts_ = restarts;
  for_grace_ = grace;
  for_outage_tolerance_ = outage_tolerance;
  saved_for_state_.clear();
  if (state_dir_.empty()) return;
  auto text = base::readFile(state_dir_ + "/alerts_for_state.json", 16u << 20);
  if (!text) return;
  auto j = nlohmann::json::parse(text.value(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j["written_at"].is_number() || !j["alerts"].is_array()) {
    BPFEX_LOG_WARN("{}/alerts_for_state.json: not what bpfex writes; alert for-state is not restored", state_dir_);
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
    saved_for_state_[a["rule"].get<std::string>() + "\n" + a["alert"].get<std::string>()][labelKey(labels)] =
        a["active_at"].get<double>();
  }
}

void RuleEngine::persistForState(double now) {
  if (state_dir_.empty()) return;
  nlohmann::json list = nlohmann::json::array();
  for (const State& s : rules_)
    for (const AlertingRule& a : s.alerts)
      for (const auto& [key, al] : a.alerts())
        if (al.state != AlertState::kInactive)
          list.push_back({{"rule", s.rule->name()}, {"alert", a.spec().name}, {"labels", al.labels}, {"active_at", al.active_at}});
  // Written every evaluation while anything is active (written_at is when
  // bpfex was last seen up); once more when the last instance goes.
  const std::string body = list.dump();
  if (list.empty() && body == last_for_state_) return;
  last_for_state_ = body;
  const std::string text = nlohmann::json{{"written_at", now}, {"alerts", std::move(list)}}.dump() + "\n";
  if (auto st = base::writeFileAtomic(state_dir_ + "/alerts_for_state.json", text); !st)
    BPFEX_LOG_WARN("alert for-state: {}", st.error().message());
}

void RuleEngine::writeAlertSeries() {
  // From state, every tick, for every rule (due or not): ALERTS and
  // ALERTS_FOR_STATE exist while an instance is pending or firing.
  for (const State& s : rules_)
    for (const AlertingRule& a : s.alerts)
      for (const auto& [key, al] : a.alerts()) {
        if (al.state == AlertState::kInactive) continue;
        std::vector<std::pair<std::string, std::string>> l(al.labels.begin(), al.labels.end());
        (void)alerts_for_state_->setLabeled(l, al.active_at);
        l.emplace_back("alertstate", std::string(alertStateName(al.state)));
        (void)alerts_series_->setLabeled(l, 1);
      }
}

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

void RuleEngine::publishStatus() {
  nlohmann::json j;
  j["last_reload_successful"] = last_reload_ok_;
  j["last_reload_error"] = last_reload_error_;
  j["last_reload_success_time"] = last_reload_success_time_;
  j["last_reload_time"] = last_reload_time_;
  j["rules"] = nlohmann::json::array();
  for (const State& s : rules_) {
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
    r["health"] = !s.load_error.empty() ? "stale" : s.last_error.empty() ? "ok" : "err";
    if (!s.load_error.empty())
      r["load_error"] = {{"kind", s.load_error_kind}, {"message", s.load_error}, {"time", last_reload_time_},
                         {"note", "the file's newest version was refused; this version keeps running"}};
    j["rules"].push_back(std::move(r));
  }
  // Files refused at their first load: nothing of theirs runs.
  for (const Refused& rf : refused_) {
    nlohmann::json r;
    r["rule"] = rf.file;
    r["health"] = "refused";
    r["runs"] = 0;
    r["metrics"] = nlohmann::json::array();
    nlohmann::json errs = nlohmann::json::object();
    if (auto it = load_errors_.find(rf.file); it != load_errors_.end())
      for (const auto& [kind, n] : it->second) errs[kind] = n;
    r["errors"] = errs;
    r["load_error"] = {{"kind", rf.kind}, {"message", rf.message}, {"time", rf.time}};
    r["last_error"] = {{"kind", rf.kind}, {"message", rf.message}, {"time", rf.time}};
    j["rules"].push_back(std::move(r));
  }
  // /api/v1/alerts and /api/v1/rules, as Prometheus answers them.
  nlohmann::json alerts = nlohmann::json::array();
  nlohmann::json groups = nlohmann::json::array();
  for (const State& s : rules_) {
    nlohmann::json rules = nlohmann::json::array();
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
      rules.push_back({{"state", std::string(alertStateName(a.state()))}, {"name", a.spec().name},
                       {"query", "lua:" + s.rule->name()}, {"duration", a.spec().for_seconds},
                       {"keepFiringFor", a.spec().keep_firing_for_seconds}, {"labels", labels},
                       {"annotations", annotations}, {"alerts", instances},
                       {"health", s.last_error.empty() ? "ok" : "err"}, {"lastError", s.last_error},
                       {"type", "alerting"}, {"lastEvaluation", base::rfc3339(s.last_eval_unix)},
                       {"evaluationTime", s.last_duration}});
    }
    if (s.alerts.empty()) continue;
    groups.push_back({{"name", s.rule->name()}, {"file", s.rule->name()}, {"rules", rules},
                      {"interval", s.rule->intervalSeconds()}, {"limit", 0},
                      {"evaluationTime", s.last_duration}, {"lastEvaluation", base::rfc3339(s.last_eval_unix)}});
  }
  nlohmann::json aj = {{"status", "success"}, {"data", {{"alerts", alerts}}}};
  nlohmann::json rj = {{"status", "success"}, {"data", {{"groups", groups}}}};
  std::lock_guard lock(status_mu_);
  status_json_ = j.dump(2);
  alerts_json_ = aj.dump();
  rules_json_ = rj.dump();
}

std::string RuleEngine::alertsJson() const {
  std::lock_guard lock(status_mu_);
  return alerts_json_;
}

std::string RuleEngine::rulesJson() const {
  std::lock_guard lock(status_mu_);
  return rules_json_;
}

std::string RuleEngine::statusJson() const {
  std::lock_guard lock(status_mu_);
  return status_json_;
}

}  // namespace bpfex::engine
