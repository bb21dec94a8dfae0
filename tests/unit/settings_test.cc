// The configuration schema (daemon/settings.h): one declaration per setting
// drives the YAML walk, the environment, the flags, validation and the docs.
#include "daemon/settings.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "daemon/config.h"

namespace bpfex::daemon {
namespace {

// The settings table as docs/configuration.md has it: from its header row to
// the first line that is not a table row.
std::string docsTable() {
  std::ifstream in(std::string(SOURCE_ROOT) + "/docs/configuration.md");
  std::string line, table;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("| key | default | environment | flag | meaning |", 0) == 0) in_table = true;
    if (in_table && line.rfind("|", 0) != 0) break;
    if (in_table) table += line + "\n";
  }
  return table;
}

// The docs' table is the schema's, row for row: a setting added, renamed or
// re-ranged without its row (or a row without a setting, or a blank line
// that breaks the table's rendering) fails here.
TEST(Settings, DocsTableIsTheSchema) {
  const std::string want = settingsTable();
  EXPECT_EQ(docsTable(), want) << "docs/configuration.md's settings table should read:\n" << want;
}

TEST(Settings, KeysAreUniqueAndEveryVariableIsOnce) {
  std::set<std::string_view> keys, envs, flags;
  for (const Setting& s : settings()) {
    EXPECT_TRUE(keys.insert(s.key).second) << s.key;
    if (!s.env.empty()) {
      EXPECT_TRUE(envs.insert(s.env).second) << s.env;
    }
    if (!s.flag.empty()) {
      EXPECT_TRUE(flags.insert(s.flag).second) << s.flag;
    }
    EXPECT_TRUE(s.env.empty() || s.env.rfind("BPFEX_", 0) == 0) << s.env;
    if (!s.push_flag.empty()) {
      EXPECT_EQ(s.key.rfind("push.", 0), 0u) << s.key;
    }
  }
}

// Each default is within its own range, and what the table says is the
// default is what a Config holds.
TEST(Settings, DefaultsAreInRange) {
  Config cfg;
  for (const Setting& s : settings()) EXPECT_EQ(rangeProblem(s, cfg), "") << s.key;
  EXPECT_TRUE(validateConfig(cfg).ok());
}

// Every scalar setting is reachable three ways with the same result: the
// YAML file, its variable, its flag (parseSetting). A value out of range is
// refused by validation whichever way it came.
TEST(Settings, OneParserForFileEnvironmentAndFlags) {
  for (const Setting& s : settings()) {
    if (std::holds_alternative<std::monostate>(s.field) || (s.lo == 0 && s.hi == 0)) continue;
    const std::string over = std::to_string(static_cast<long long>(s.hi) + 1);
    const bool duration = std::holds_alternative<double& (*)(Config&)>(s.field);
    const std::string text = duration ? over + "s" : over;
    Config from_env;
    if (!s.env.empty()) {
      auto st = applyEnvOverrides(from_env, [&](const char* k) -> std::optional<std::string> {
        if (s.env == k) return text;
        return std::nullopt;
      });
      if (duration) {
        ASSERT_TRUE(st.ok()) << s.key;
        auto v = validateConfig(from_env);
        ASSERT_FALSE(v.ok()) << s.key;
        // The same words, after where the value came from.
        EXPECT_EQ(v.error().message().rfind("environment " + std::string(s.env) + ": " + std::string(s.key) + ":", 0), 0u)
            << v.error().message();
      } else {
        ASSERT_FALSE(st.ok()) << s.key;
        EXPECT_NE(st.error().message().find("out of range"), std::string::npos) << st.error().message();
      }
    }
    // The file: the same words for the same value, with the file's position.
    std::string yaml;
    const size_t dot = s.key.find('.');
    if (dot == std::string_view::npos) yaml = std::string(s.key) + ": " + text + "\n";
    else yaml = std::string(s.key.substr(0, dot)) + ":\n  " + std::string(s.key.substr(dot + 1)) + ": " + text + "\n";
    Config from_file;
    auto st = loadConfigText(yaml, "f.yaml", from_file);
    if (st.ok()) st = validateConfig(from_file);
    ASSERT_FALSE(st.ok()) << s.key;
    EXPECT_NE(st.error().message().find(std::string(s.key) + ":"), std::string::npos) << st.error().message();
  }
}

TEST(Settings, UnknownKeysInASectionListTheSectionsKeys) {
  Config cfg;
  auto st = loadConfigText("rule_limits:\n  memroy: 1\n", "f.yaml", cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(),
            "f.yaml:2:3: rule_limits.memroy: unknown setting (time_budget, memory, max_families, max_families_total)");
}

TEST(Settings, AliasesSetTheSameField) {
  Config a, b;
  ASSERT_TRUE(loadConfigText("http: {timeout: 7s}\n", "f", a).ok());
  ASSERT_TRUE(loadConfigText("http: {read_timeout: 7s}\n", "f", b).ok());
  EXPECT_EQ(a.http.timeout_seconds, 7);
  EXPECT_EQ(b.http.timeout_seconds, 7);
}

}  // namespace
}  // namespace bpfex::daemon
