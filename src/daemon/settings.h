// The configuration schema: every setting declared once, with its key, the
// field it sets, its range, its environment variable and flag, its default
// as documented, and one line of documentation. That one declaration drives
// the YAML walk (config.cc), the BPFEX_* environment, the command-line flags
// (main.cc: `bpfex run`/`check` for daemon settings, `bpfex push` for the
// push.* ones), the range checks of validateConfig, and the settings table
// of docs/configuration.md (settingsTable(); a unit test keeps the two equal).
//
// A setting whose value is a list, a mapping or a section of its own (rules,
// rule_params, include, bpf.objects, ...) has no field here: config.cc parses
// it, and its row still documents it.
#pragma once

#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"

namespace bpfex::daemon {

struct Config;

// Where a scalar setting lives in Config. Doubles are durations (seconds).
using SettingField = std::variant<std::monostate, std::string& (*)(Config&), bool& (*)(Config&),
                                  double& (*)(Config&), unsigned& (*)(Config&), size_t& (*)(Config&), int& (*)(Config&)>;

struct Setting {
  std::string_view key;    // "http.threads"
  std::string_view doc_key = {};  // how the table names it, when not `key`
  SettingField field;      // monostate: parsed by config.cc (lists, mappings, sections)
  double lo = 0, hi = 0;   // numbers and durations: the inclusive range (lo == hi == 0: any)
  std::string_view env;    // BPFEX_* variable, or ""
  std::string_view flag;   // bpfex run/check flag, or ""
  std::string_view push_flag;     // bpfex push flag (push.* settings), or ""
  std::string_view default_text;  // the default, as the docs show it
  std::string_view doc;           // what it does (one line of the table)
  std::string_view alias = {};    // an older key that means the same
  std::string_view env_doc = {};  // the environment column when more than the variable's name
  std::string_view flag_doc = {}; // the flag column when more than the flag
  bool table = true;              // a row of the settings table (alerting.* and push.* are documented as sections)
  // Beyond type and range: the value's own rule ("" when it holds).
  std::string (*check)(const Config&) = nullptr;
  bool path = false;  // a file path: relative in a YAML file means beside that file
};

// Every setting, in the order the docs list them.
const std::vector<Setting>& settings();
// By key (or alias); null when there is no such setting.
const Setting* findSetting(std::string_view key);

// Sets the setting from text (a YAML scalar, an environment variable, a
// flag): its type, and for whole numbers its range. The error does not name
// the setting; the caller knows where the text came from.
base::Status parseSetting(const Setting& s, std::string_view text, Config& cfg);
// Whether the setting's current value is within its range ("" when it is).
std::string rangeProblem(const Setting& s, Config& cfg);

// A whole number in [lo, hi] from text: the one parser for every integer
// setting, nested ones (bpf.maps[].id) and BPFEX_LISTEN_PORT included.
template <typename T>
base::Result<T> parseWholeNumber(std::string_view text, T lo, T hi) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    // Appended, not "\"" + ... + "\"": GCC 12's -Wrestrict false positive (PR105651).
    std::string q = "\"";
    q += text;
    q += "\" is not a whole number";
    return base::Error::msg(q);
  }
  if (v < lo || v > hi)
    return base::Error::msg(std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

// The settings table of docs/configuration.md, as Markdown.
std::string settingsTable();

}  // namespace bpfex::daemon
