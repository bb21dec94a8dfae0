// The data path's ABI, single-sourced: bpfex_abi.h defines the enums; the
// compiler puts them in the vpn_router object's BTF; rules read them from
// there (m:enum). This test reads the header itself (not through the
// compiler) and checks that what a rule sees through m:enum is every enum
// of the header, with the same enumerators and values, so a header change
// that is not in the object (or an enum left out of struct vpn_abi_enums)
// fails here rather than as a mislabelled series.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "engine/recorded_data.h"
#include "lua/rule.h"
#include "metrics/exposition.h"
#include "metrics/registry.h"

namespace bpfex {
namespace {

using Enums = std::map<std::string, std::map<std::string, long long>>;  // enum -> name -> value

// The header's enums, read as text: comments removed, every enumerator with
// its explicit value (the ABI's rule: no implicit values).
Enums headerEnums() {
  std::ifstream in(std::string(SOURCE_ROOT) + "/bpf/include/bpfex_abi.h");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = std::regex_replace(ss.str(), std::regex(R"(/\*[\s\S]*?\*/)"), "");
  Enums out;
  const std::regex enum_re(R"(enum\s+(\w+)\s*\{([^}]*)\})"), item_re(R"((\w+)\s*(=\s*(-?\w+))?\s*(,|$))");
  for (std::sregex_iterator it(text.begin(), text.end(), enum_re), end; it != end; ++it) {
    const std::string body = (*it)[2];
    for (std::sregex_iterator e(body.begin(), body.end(), item_re); e != end; ++e) {
      EXPECT_TRUE((*e)[3].matched) << "enum " << (*it)[1] << ": " << (*e)[1] << " has no explicit value";
      out[(*it)[1]][(*e)[1]] = std::stoll((*e)[3].str(), nullptr, 0);
    }
  }
  return out;
}

TEST(Abi, HeaderEnumsAreWhatRulesSee) {
  const Enums header = headerEnums();
  ASSERT_GE(header.size(), 7u);
  ASSERT_TRUE(header.count("bpfex_hook"));
  EXPECT_EQ(header.at("bpfex_hook").at("BPFEX_HOOK_TC_EGRESS"), 2);

  engine::RecordedData data;
  ASSERT_TRUE(data.useBundledBtf("vpn_router").ok());
  ASSERT_TRUE(data.addMap("vpn/stats_map", "u32 key", "u64 packets[6]; u64 bytes[6]", 1024).ok());
  std::string list;
  for (const auto& [name, values] : header) list += "\"" + name + "\", ";
  const std::string source = R"(
local m = bpf.map("vpn/stats_map")
local g = metric.gauge("abi_enum", "", { "enum", "name" })
on_tick(function()
  for _, e in ipairs({ )" + list + R"( }) do
    for _, x in ipairs(m:enum(e)) do g:set({ e, x.name }, x.value) end
  end
end)
)";
  auto rule = lua::Rule::load("abi.lua", source, {});
  ASSERT_TRUE(rule.ok()) << rule.error().message();
  metrics::Registry registry;
  ASSERT_TRUE(rule.value()->bind(registry).ok());
  lua::TickContext ctx{.tick = 1, .now_unix = 1, .now_mono = 1, .data = &data};
  const lua::RunResult res = rule.value()->run(ctx);
  ASSERT_EQ(res.kind, lua::ErrorKind::kNone) << res.message;

  Enums seen;
  metrics::Buffer b;
  metrics::renderRegistry(registry, metrics::Format::kText004, b);
  std::istringstream lines{std::string(b.view())};
  const std::regex sample(R"re(abi_enum\{enum="(\w+)",name="(\w+)"\} (-?[0-9.e+]+))re");
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, sample)) seen[m[1]][m[2]] = static_cast<long long>(std::stod(m[3]));
  }
  EXPECT_EQ(seen, header);
}

}  // namespace
}  // namespace bpfex
