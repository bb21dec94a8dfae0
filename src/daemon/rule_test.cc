#include "daemon/rule_test.h"

#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>

#include "engine/engine.h"
#include "engine/recorded_data.h"
#include "engine/rule_engine.h"
#include "metrics/exposition.h"

namespace bpfex::daemon {

namespace {

namespace fs = std::filesystem;
using engine::RecordedData;

std::string at(const std::string& file, const YAML::Node& n) {
  return file + ":" + std::to_string(n.Mark().line + 1);
}

// Integer literals stay text, so RecordedData parses them exactly: a double
// would round a 64-bit id beyond 2^53.
bool isIntegerLiteral(const std::string& s) {
  static const std::regex kInteger("-?(0[xX][0-9a-fA-F]+|[0-9]+)");
  return std::regex_match(s, kInteger);
}

RecordedData::Value scalar(const YAML::Node& v) {
  const std::string text = v.as<std::string>();
  if (isIntegerLiteral(text)) return text;
  try {
    return v.as<double>();
  } catch (const YAML::Exception&) {
    return text;
  }
}

RecordedData::Fields fields(const YAML::Node& n) {
  RecordedData::Fields f;
  for (const auto& kv : n) {
    const std::string k = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (v.IsSequence()) {  // arrays: slots: [1, 2, 3]
      for (size_t i = 0; i < v.size(); ++i) f[k + "[" + std::to_string(i) + "]"] = scalar(v[i]);
      continue;
    }
    f[k] = scalar(v);
  }
  return f;
}

// The rules' own families, rendered: what the test compares against.
std::vector<std::string> ruleSeries(const metrics::Registry& reg, const std::set<std::string>& families) {
  metrics::Buffer b;
  for (const auto& f : reg.families())
    if (families.count(f->name())) f->render(metrics::Format::kText004, b);
  std::vector<std::string> lines;
  std::istringstream in{std::string(b.view())};
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') lines.push_back(line);
  return lines;
}

// Returns the number of failures (0 = pass); prints what failed.
int runOne(const std::string& file, bool verbose) {
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(file);
  } catch (const YAML::Exception& e) {
    std::printf("FAIL %s:%d: %s\n", file.c_str(), e.mark.line + 1, e.msg.c_str());
    return 1;
  }
  const fs::path dir = fs::path(file).parent_path();
  int failures = 0;
  auto fail = [&](const std::string& where, const std::string& what) {
    std::printf("FAIL %s: %s\n", where.c_str(), what.c_str());
    ++failures;
  };
  try {
    std::vector<std::string> rules;
    for (const auto& r : doc["rules"]) rules.push_back((dir / r.as<std::string>()).lexically_normal().string());
    const double interval = doc["interval"] ? doc["interval"].as<double>() : 5.0;
    std::map<std::string, std::string> params;
    if (doc["params"])
      for (const auto& p : doc["params"]) params[p.first.as<std::string>()] = p.second.as<std::string>();

    RecordedData data;
    if (doc["btf"])  // the bundled object whose BTF gives bpf.enum its enums
      if (auto st = data.useBundledBtf(doc["btf"].as<std::string>()); !st) {
        fail(at(file, doc["btf"]), st.error().message());
        return failures;
      }
    for (const auto& m : doc["maps"]) {
      const std::string name = m.first.as<std::string>();
      std::map<std::string, std::map<int64_t, std::string>> enums;
      if (m.second["enums"])
        for (const auto& e : m.second["enums"])
          for (const auto& v : e.second) enums[e.first.as<std::string>()][v.first.as<int64_t>()] = v.second.as<std::string>();
      // Without key and value: the layouts of the btf: object's map of that name.
      auto st = !m.second["key"] && !m.second["value"] && doc["btf"]
                    ? data.addMapFromBtf(name, m.second["max_entries"] ? m.second["max_entries"].as<uint32_t>() : 0)
                    : data.addMap(name, m.second["key"].as<std::string>(), m.second["value"].as<std::string>(),
                                  m.second["max_entries"] ? m.second["max_entries"].as<uint32_t>() : 1024, enums);
      if (!st) {
        fail(at(file, m.second), st.error().message());
        return failures;
      }
    }

    metrics::Registry registry;
    metrics::Publisher publisher;
    engine::Engine eng(registry, publisher, {});
    engine::RuleEngine re(registry, &data, {.time_budget_seconds = 10, .memory_bytes = 256u << 20});
    double now = 1000.0;
    re.setClock([&now] { return now; }, [&now] { return 1.7e9 + now; });
    re.setParams(params);
    eng.addCollector("rules", re.collector(eng), engine::Phase::kRules);
    if (auto st = re.reload(rules); !st) {
      fail(file, "rules do not load: " + st.error().message());
      return failures;
    }
    std::set<std::string> families;
    for (const auto& f : registry.families())
      if (f->options().expire_unwritten && f->name().rfind("bpfex_", 0) != 0) families.insert(f->name());

    int tick_no = 0;
    double last_time = now;
    for (const auto& tick : doc["ticks"]) {
      ++tick_no;
      const std::string where = at(file, tick) + " (tick " + std::to_string(tick_no) + ")";
      if (tick["maps"])
        for (const auto& m : tick["maps"]) {
          std::vector<std::pair<RecordedData::Fields, RecordedData::Fields>> entries;
          for (const auto& e : m.second) entries.emplace_back(fields(e["key"]), fields(e["value"]));
          if (auto st = data.setEntries(m.first.as<std::string>(), entries); !st) fail(where, st.error().message());
        }
      if (tick["time"]) {
        // An explicit time (seconds from the start), for irregular ticks.
        const double t = 1000.0 + tick["time"].as<double>();
        if (tick_no > 1 && !(t > last_time)) {
          fail(where, "time must increase from tick to tick");
          return failures;
        }
        now = t;
      }
      last_time = now;
      eng.tick();
      now += interval;
      const std::string status = re.statusJson();
      if (status.find("\"last_error\"") != std::string::npos && !tick["expect_error"])
        fail(where, "a rule failed: " + status);
      const auto lines = ruleSeries(registry, families);
      const std::set<std::string> have(lines.begin(), lines.end());
      for (const auto& e : tick["expect"]) {
        const std::string want = e.as<std::string>();
        if (!have.count(want)) {
          std::string near;
          const std::string name = want.substr(0, want.find_first_of("{ "));
          for (const auto& l : lines)
            if (l.rfind(name, 0) == 0) near += "\n      have: " + l;
          fail(where, "expected series missing:\n      want: " + want + (near.empty() ? "\n      (no series of that name)" : near));
        }
      }
      for (const auto& a : tick["absent"]) {
        const std::string prefix = a.as<std::string>();
        for (const auto& l : lines)
          if (l.rfind(prefix, 0) == 0) fail(where, "series should be absent: " + l);
      }
      if (verbose) {
        std::printf("-- %s\n", where.c_str());
        for (const auto& l : lines) std::printf("   %s\n", l.c_str());
      }
    }
    if (tick_no == 0) fail(file, "no ticks");
  } catch (const YAML::Exception& e) {
    fail(file + ":" + std::to_string(e.mark.line + 1), e.msg);
  }
  return failures;
}

}  // namespace

int runRuleTests(const std::vector<std::string>& files, bool verbose) {
  int passed = 0, failed = 0;
  for (const auto& f : files) {
    if (runOne(f, verbose) == 0) {
      std::printf("PASS %s\n", f.c_str());
      ++passed;
    } else {
      ++failed;
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace bpfex::daemon
