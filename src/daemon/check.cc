#include "daemon/check.h"

#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/json_text.h"
#include "base/lines.h"
#include "bpf/netns.h"
#include "bpf/object.h"
#include "daemon/push_job.h"
#include "daemon/server.h"
#include "engine/bpf_data_source.h"
#include "engine/bpf_runtime.h"
#include "engine/engine.h"
#include "engine/process_collector.h"
#include "engine/rule_engine.h"
#include "lua/rule.h"
#include "metrics/registry.h"
#include "metrics/reserved.h"

namespace bpfex::daemon {

using base::Error;
using base::Result;

namespace {

// The maps a configuration gives rules, each with one zeroed entry.
class CheckData : public lua::DataSource {
 public:
  struct Entry {
    std::optional<bpf::Layout> key, value;  // absent: not known at check time
    bool events = false;
    std::vector<uint8_t> kb, vb;
    bpf::MapInfo info;
  };

  void add(const std::string& name, std::optional<bpf::Layout> key, std::optional<bpf::Layout> value, bool events) {
    Entry e;
    e.events = events;
    if (key && value) {
      e.kb.assign(std::max<uint32_t>(key->size(), 1), 0);
      e.vb.assign(std::max<uint32_t>(value->size(), 1), 0);
      e.info.name = name;
      e.info.key_size = key->size();
      e.info.value_size = value->size();
      e.info.max_entries = 1;
      e.key = std::move(key);
      e.value = std::move(value);
    }
    maps_[name] = std::move(e);
  }

  // Without a bpf section there is nothing to hold map names against.
  bool judge_names = true;

  Result<lua::MapView> mapView(const std::string& name) override {
    auto it = maps_.find(name);
    if (it == maps_.end() && !judge_names) return Error(ENODATA, "bpf map \"" + name + "\": no bpf configuration to check it against");
    if (it == maps_.end()) return Error(ENOENT, "bpf map \"" + name + "\" is not configured (bpf.objects or bpf.maps)");
    const Entry& e = it->second;
    if (!e.key || e.events) return Error(ENODATA, "bpf map \"" + name + "\": layout unknown at check time");
    lua::MapView v;
    v.keys = e.kb.data();
    v.values = e.vb.data();
    v.count = 1;
    v.key_size = e.key->size();
    v.value_size = e.value->size();
    v.key_layout = &*e.key;
    v.value_layout = &*e.value;
    v.info = &e.info;
    return v;
  }
  Result<const bpf::EventReader*> events(const std::string& name) override {
    if (!maps_.count(name) && judge_names) return Error(ENOENT, "bpf event map \"" + name + "\" is not configured");
    return Error(ENODATA, "bpf events \"" + name + "\": not read at check time");
  }

 private:
  std::map<std::string, Entry> maps_;
};

// Where a run error happened in the rule: the message's own location when it
// is the rule's, else the rule's innermost frame in the traceback (errors
// raised inside bpfex's library name the library's line first).
CheckIssue locate(const std::string& msg, const std::string& rule) {
  CheckIssue first = parseIssue(msg);
  if (first.file == rule) return first;
  const std::string needle = "\t" + rule + ":";
  for (size_t at = msg.find(needle); at != std::string::npos; at = msg.find(needle, at + 1)) {
    const size_t num = at + needle.size();
    int line = 0;
    size_t k = num;
    while (k < msg.size() && msg[k] >= '0' && msg[k] <= '9') line = line * 10 + (msg[k++] - '0');
    if (k > num) return {rule, line, 0, first.message};
  }
  return {rule, 0, 0, first.message};
}

void addAll(std::vector<CheckIssue>& out, const std::string& text) {
  base::forEachLine(text, [&](std::string_view line) {
    if (line.empty() || line[0] == '\t' || line.rfind("stack traceback:", 0) == 0) return;  // tracebacks
    out.push_back(parseIssue(std::string(line)));
  });
}

}  // namespace

CheckIssue parseIssue(const std::string& text) {
  const std::string first = text.substr(0, text.find('\n'));
  // "file:line: message" or "file:line:column: message" (configuration errors).
  auto digits = [&](size_t at, int* v) {
    size_t k = at;
    *v = 0;
    while (k < first.size() && first[k] >= '0' && first[k] <= '9') *v = *v * 10 + (first[k++] - '0');
    return k > at ? k : std::string::npos;
  };
  for (size_t colon = first.find(':'); colon != std::string::npos; colon = first.find(':', colon + 1)) {
    int line = 0, column = 0;
    size_t k = digits(colon + 1, &line);
    if (k == std::string::npos || k >= first.size() || first[k] != ':') continue;
    if (k + 1 < first.size() && first[k + 1] == ' ') return {first.substr(0, colon), line, 0, first.substr(k + 2)};
    const size_t c = digits(k + 1, &column);
    if (c != std::string::npos && c + 1 < first.size() && first[c] == ':' && first[c + 1] == ' ')
      return {first.substr(0, colon), line, column, first.substr(c + 2)};
  }
  return {"", 0, 0, first};
}

std::vector<CheckIssue> checkConfig(const Config& cfg) {
  std::vector<CheckIssue> issues;
  CheckData data;
  data.judge_names = !cfg.bpf.empty();
  for (const auto& o : cfg.bpf.objects) {
    // An interface the config names that is not there now: the daemon
    // attaches when it appears (a TUN its server creates later), so this
    // warns, at the attachment's line, rather than fails.
    for (const auto& a : o.attach) {
      if (!bpf::isNetdevAttach(a.type) || a.dynamic()) continue;
      bool present = false;
      auto st = bpf::inNetns(a.netns, [&]() -> base::Status {
        present = if_nametoindex(a.target.c_str()) != 0;
        return base::okStatus();
      });
      if (st && present) continue;
      CheckIssue w = parseIssue(a.where + ": x");
      w.message = "bpf object " + o.name + ": interface " + a.target +
                  (a.netns.empty() ? "" : " (netns " + a.netns + ")") + " is not there now" +
                  (st ? "" : " (" + st.error().message() + ")") + "; " + a.program + " is attached when it appears";
      w.warning = true;
      issues.push_back(std::move(w));
    }
    std::vector<bpf::BpfObject::CheckedMap> maps;
    if (auto st = bpf::BpfObject::check(o, &maps); !st) {
      addAll(issues, st.error().message());
      continue;
    }
    for (auto& m : maps) data.add(o.name + "/" + m.name, std::move(m.key), std::move(m.value), m.events);
  }
  for (const auto& fm : cfg.bpf.maps) {
    std::optional<bpf::Layout> key, value;
    if (!fm.key_layout.empty() && !fm.value_layout.empty()) {
      auto k = bpf::Layout::fromDeclaration(fm.key_layout);
      auto v = bpf::Layout::fromDeclaration(fm.value_layout);
      if (!k || !v) {
        issues.push_back({"", 0, 0, "bpf.maps " + fm.name + ": " + (!k ? k.error().message() : v.error().message())});
        continue;
      }
      key = std::move(k).value();
      value = std::move(v).value();
    } else {
      // Reachable now (its owner runs here): its own BTF; else unknown.
      Result<bpf::Map> m = !fm.pinned.empty() ? bpf::Map::openPinned(fm.pinned)
                           : fm.id != 0       ? bpf::Map::openById(fm.id)
                                              : bpf::Map::openByName(fm.kernel_name);
      if (m) {
        auto k = m->keyLayout();
        auto v = m->valueLayout();
        if (k && v) {
          key = std::move(k).value();
          value = std::move(v).value();
        }
      }
    }
    data.add(fm.name, std::move(key), std::move(value), false);
  }

  auto files = engine::ruleFiles(cfg.rules);
  if (!files) {
    addAll(issues, files.error().message());
    return issues;
  }
  std::vector<std::unique_ptr<lua::Rule>> rules;
  for (const auto& f : files.value()) {
    auto r = engine::compileRule(f, ruleLimitsOf(cfg), cfg.rule_params);
    if (!r) {
      addAll(issues, r.error().message());
      continue;
    }
    rules.push_back(std::move(r).value());
  }
  {
    // Admitted together into the registry the daemon would have: its own
    // metrics, then the rules' (clashes across files, limits).
    metrics::Registry registry;
    metrics::Publisher publisher;
    engine::Engine eng(registry, publisher, {});
    (void)engine::makeProcessCollector(registry);
    engine::BpfRuntime rt;
    (void)rt.makeCollector(registry, eng);
    engine::BpfDataSource bpf_data(rt);
    engine::RuleEngine re(registry, &bpf_data, ruleLimitsOf(cfg));
    if (auto st = engine::RuleEngine::validate(rules, registry, {}, cfg.rule_limits.max_families_total); !st)
      addAll(issues, st.error().message());
  }

  // Range selectors name a metric some rule declares, or one of bpfex's own:
  // a misspelt name would select nothing, silently, forever.
  {
    std::set<std::string> declared;
    for (const auto& r : rules)
      for (const auto& d : r->declarations()) declared.insert(d.name);
    for (const auto& r : rules)
      for (const auto& rd : r->ranges()) {
        bool known = false;
        for (std::string_view suffix : {"", "_bucket", "_sum", "_count"}) {
          const std::string_view m = rd.metric;
          if (m.size() <= suffix.size() || m.substr(m.size() - suffix.size()) != suffix) continue;
          const std::string base(m.substr(0, m.size() - suffix.size()));
          if (declared.count(base) || !metrics::reservedReason(base).empty()) known = true;
        }
        if (!known)
          issues.push_back({r->name(), rd.line, 0,
                            "range " + rd.metric + ": no rule declares " + rd.metric +
                                ", and it is not one of bpfex's own metrics"});
      }
  }

  // One dry run per rule, in a registry of its own.
  for (const auto& r : rules) {
    metrics::Registry scratch;
    if (!r->bind(scratch)) continue;  // reported above
    lua::TickContext ctx{.tick = 1, .now_unix = base::unixSeconds(), .now_mono = base::monotonicSeconds(), .data = &data};
    const lua::RunResult res = r->run(ctx);
    if (res.kind == lua::ErrorKind::kRuntime) {
      const bool map_missing = res.message.find("is not configured") != std::string::npos;
      const bool no_field = res.message.find("no field \"") != std::string::npos;
      const bool arity = res.message.find(" label values for ") != std::string::npos;
      if (map_missing || no_field || arity) issues.push_back(locate(res.message, r->name()));
    }
    if (res.metric_errors > 0 && r->lastMetricError().find("label values for") != std::string::npos)
      issues.push_back(parseIssue(r->lastMetricError()));
  }
  return issues;
}

std::vector<CheckIssue> checkJobs(const std::vector<std::string>& paths, const std::map<std::string, std::string>& params) {
  std::vector<CheckIssue> issues;
  auto files = engine::ruleFiles(paths);
  if (!files) {
    addAll(issues, files.error().message());
    return issues;
  }
  for (const auto& f : files.value()) {
    auto job = engine::compileRule(f, kPushJobLimits, params, lua::RuleKind::kJob);
    if (!job) {
      addAll(issues, job.error().message());
      continue;
    }
    metrics::Registry registry;  // a job pushes its own families only
    if (auto st = job.value()->bind(registry); !st) addAll(issues, st.error().message());
  }
  return issues;
}

size_t countErrors(const std::vector<CheckIssue>& issues) {
  return static_cast<size_t>(std::count_if(issues.begin(), issues.end(), [](const CheckIssue& i) { return !i.warning; }));
}

std::string formatIssues(const std::vector<CheckIssue>& issues) {
  std::string out;
  for (const auto& i : issues) {
    if (!i.file.empty())
      out += i.file + ":" + (i.line > 0 ? std::to_string(i.line) + ":" : "") +
             (i.column > 0 ? std::to_string(i.column) + ":" : "") + " ";
    out += (i.warning ? "warning: " : "") + i.message + "\n";
  }
  return out;
}

std::string formatIssuesJson(const std::vector<CheckIssue>& issues) {
  nlohmann::json errors = nlohmann::json::array(), warnings = nlohmann::json::array();
  for (const auto& i : issues) {
    nlohmann::json e = {{"message", i.message}};
    if (!i.file.empty()) e["file"] = i.file;
    if (i.line > 0) e["line"] = i.line;
    if (i.column > 0) e["column"] = i.column;
    (i.warning ? warnings : errors).push_back(std::move(e));
  }
  nlohmann::json doc = {{"ok", errors.empty()}, {"errors", std::move(errors)}};
  if (!warnings.empty()) doc["warnings"] = std::move(warnings);
  return base::jsonText(doc, 2) + "\n";
}

}  // namespace bpfex::daemon
