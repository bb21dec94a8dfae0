// bpf.export (lua/map_export.h) against the Lua loop it replaces: the same
// map contents, tick after tick, through both, must serve the same bytes.
// The contents are random (seeded), with churn, reordering and unchanged
// ticks, so that series handles are taken, reused and invalidated; the key
// fields cover every kind a label can come from.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/engine.h"
#include "engine/recorded_data.h"
#include "engine/rule_engine.h"
#include "metrics/exposition.h"

namespace bpfex::engine {
namespace {

namespace fs = std::filesystem;

constexpr const char* kKey = "u32 ifindex; s16 delta; u8 hook; char name[6]; bool up; u64 big; f64 ratio";
constexpr const char* kValue = "u64 packets; f32 frac; s32 neg";
const std::map<std::string, std::map<int64_t, std::string>> kEnums = {{"hook", {{0, "XDP"}, {1, "TC_INGRESS"}}}};

struct Side {
  explicit Side(const std::string& rule_src)
      : registry({.max_series = 5000, .max_series_per_family = 400}),
        engine(registry, publisher, {}),
        rules(registry, &data, {.time_budget_seconds = 5, .memory_bytes = 64u << 20}) {
    engine.addCollector("rules", rules.collector(engine));
    dir = fs::temp_directory_path() / ("bpfex-export-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::create_directories(dir);
    std::ofstream(dir / "rule.lua") << rule_src;
    EXPECT_TRUE(data.addMap("m/flows", kKey, kValue, 1024, kEnums).ok());
  }
  ~Side() { fs::remove_all(dir); }
  // The rule's own families, as served (self-metrics name the rule's path).
  std::string served() {
    metrics::Buffer b;
    metrics::renderRegistry(registry, metrics::Format::kText004, b);
    std::istringstream in{std::string(b.view())};
    std::string line, out;
    while (std::getline(in, line))
      if (line.find("x_") != std::string::npos && line.rfind("bpfex_", 0) != 0) out += line + "\n";
    return out;
  }
  double errors(const std::string& kind) {
    const metrics::Family* f = registry.find("bpfex_rule_errors_total");
    return f ? f->value({(dir / "rule.lua").string(), kind}).value_or(0) : 0;
  }
  static inline int n = 0;
  metrics::Registry registry;
  metrics::Publisher publisher;
  Engine engine;
  RecordedData data;
  RuleEngine rules;
  fs::path dir;
};

constexpr const char* kLoop = R"(
local all = metric.gauge("x_packets", "p", {"ifindex", "delta", "hook", "name", "up", "big", "ratio"})
local some = metric.gauge("x_frac", "f", {"iface", "hook"})
local neg = metric.counter("x_neg_total", "n", {"ifindex", "name", "big"})
local m = bpf.map("m/flows")
on_tick(function()
  for k, v in m:entries() do
    all:set({k.ifindex, k.delta, k.hook, k.name, k.up, k.big, k.ratio}, v.packets)
    some:set({k.ifindex, k.hook}, v.frac)
    neg:set({k.ifindex, k.name, k.big}, v.neg)
  end
end)
)";

constexpr const char* kExport = R"(
local m = bpf.map("m/flows")
bpf.export(m, metric.gauge("x_packets", "p", {"ifindex", "delta", "hook", "name", "up", "big", "ratio"}), "packets")
bpf.export(m, metric.gauge("x_frac", "f", {"iface", "hook"}), "frac", {iface = "ifindex"})
bpf.export(m, metric.counter("x_neg_total", "n", {"ifindex", "name", "big"}), "neg")
)";

using Entries = std::vector<std::pair<RecordedData::Fields, RecordedData::Fields>>;

RecordedData::Fields keyOf(int id) {
  static const char* kNames[] = {"tcp", "udp", "a\"b", "x\\y", "n\nl", "", "\xff\xfe"};
  static const double kRatios[] = {0.5, -2.5, 1e-7, 3, 0.1, 1e300, NAN, -0.0};
  static const char* kBig[] = {"0", "9007199254740993", "18446744073709551615", "123"};
  return {{"ifindex", static_cast<double>(id % 17)},
          {"delta", static_cast<double>((id % 5) - 2) * 9000},
          {"hook", static_cast<double>(id % 3 == 2 ? 7 : id % 3)},  // 7 has no name
          {"name", std::string(kNames[id % 7])},
          {"up", static_cast<double>(id % 2)},
          {"big", std::string(kBig[id % 4])},
          {"ratio", kRatios[id % 8]}};
}

TEST(MapExport, ServesWhatTheLuaLoopServesTickAfterTick) {
  Side loop(kLoop), exp(kExport);
  ASSERT_TRUE(loop.rules.reload({loop.dir.string()}).ok()) << loop.rules.statusJson();
  ASSERT_TRUE(exp.rules.reload({exp.dir.string()}).ok()) << exp.rules.statusJson();
  std::mt19937 rng(20261205);
  std::vector<int> ids;
  for (int tick = 0; tick < 60; ++tick) {
    switch (tick % 4) {
      case 0:  // churn: some entries go, new ones come
        for (int j = 0; j < 40; ++j) {
          if (!ids.empty() && rng() % 2) ids.erase(ids.begin() + static_cast<long>(rng() % ids.size()));
          ids.push_back(static_cast<int>(rng() % 600));
        }
        break;
      case 1: std::shuffle(ids.begin(), ids.end(), rng); break;  // the same entries, another order
      default: break;                                              // unchanged: every handle is reused
    }
    Entries e;
    std::set<int> seen;
    for (int id : ids) {
      if (!seen.insert(id).second) continue;  // a map holds a key once
      const double packets = static_cast<double>(rng() % 1000000) * (tick % 5 == 4 ? 1e9 : 1);
      const double neg = (rng() % 10 == 0) ? -1.0 : static_cast<double>(rng() % 100);
      e.push_back({keyOf(id), {{"packets", packets}, {"frac", static_cast<double>(rng() % 1000) / 7}, {"neg", neg}}});
    }
    ASSERT_TRUE(loop.data.setEntries("m/flows", e).ok());
    ASSERT_TRUE(exp.data.setEntries("m/flows", e).ok());
    loop.engine.tick();
    exp.engine.tick();
    const std::string want = loop.served();
    ASSERT_FALSE(want.empty());
    ASSERT_EQ(exp.served(), want) << "tick " << tick;
    // Refused writes (negative counter values) are counted alike.
    ASSERT_EQ(exp.errors("metric"), loop.errors("metric")) << "tick " << tick << exp.rules.statusJson();
    ASSERT_EQ(exp.errors("runtime"), 0) << exp.rules.statusJson();
  }
  EXPECT_GT(loop.errors("metric"), 0);  // the refusal path was taken
}

TEST(MapExport, SeriesLimitsHoldAndAreCountedAlike) {
  Side loop(kLoop), exp(kExport);
  ASSERT_TRUE(loop.rules.reload({loop.dir.string()}).ok());
  ASSERT_TRUE(exp.rules.reload({exp.dir.string()}).ok());
  Entries e;
  for (int id = 0; id < 1000; ++id) e.push_back({keyOf(id), {{"packets", 1.0}, {"frac", 2.0}, {"neg", 3.0}}});
  ASSERT_TRUE(loop.data.setEntries("m/flows", e).ok());
  ASSERT_TRUE(exp.data.setEntries("m/flows", e).ok());
  loop.engine.tick();
  exp.engine.tick();
  EXPECT_EQ(exp.served(), loop.served());
  EXPECT_EQ(exp.registry.find("x_packets")->size(), 400u);  // max_series_per_family
  EXPECT_EQ(exp.registry.find("x_packets")->dropped(), loop.registry.find("x_packets")->dropped());
}

// A declaration the map does not fit names the rule's file:line and field;
// a declaration the API refuses fails the load at its line.
TEST(MapExport, MistakesNameTheLine) {
  Side s("local m = bpf.map(\"m/flows\")\n"
         "bpf.export(m, metric.gauge(\"x_a\", \"a\", {\"ifindex\", \"prot\"}), \"packets\")\n");
  ASSERT_TRUE(s.rules.reload({s.dir.string()}).ok());
  ASSERT_TRUE(s.data.setEntries("m/flows", {{keyOf(1), {{"packets", 1.0}}}}).ok());
  s.engine.tick();
  EXPECT_EQ(s.errors("runtime"), 1);
  EXPECT_NE(s.rules.statusJson().find("rule.lua:2: bpf.export(m/flows): no key field named prot"), std::string::npos)
      << s.rules.statusJson();

  for (const auto& [src, want] : std::vector<std::pair<std::string, std::string>>{
           {"bpf.export(bpf.map(\"m\"), metric.histogram(\"x_h\", \"h\", {}, {1}), \"packets\")", "x_h is a histogram"},
           {"bpf.export(bpf.map(\"m\"), metric.gauge(\"x_g\", \"g\", {\"a\"}), \"v\", {b = \"c\"})", "has no label b"},
           {"bpf.export(\"m\", metric.gauge(\"x_g\", \"g\", {}), \"v\")", "rule.lua:1:"},
           {"local g = metric.gauge(\"x_g\", \"g\", {})\nbpf.export(bpf.map(\"m\"), g, \"v\")\nbpf.export(bpf.map(\"n\"), g, \"v\")",
            "rule.lua:3: bpf.export(n): metric x_g is exported twice"},
           {"on_tick(function() bpf.export(bpf.map(\"m\"), nil, \"v\") end)", ""}}) {
    Side bad(src);
    auto st = bad.rules.reload({bad.dir.string()});
    if (want.empty()) {  // declared in on_tick: the run fails, naming why
      ASSERT_TRUE(st.ok());
      bad.engine.tick();
      EXPECT_NE(bad.rules.statusJson().find("bpf.export is declared at the top level"), std::string::npos)
          << bad.rules.statusJson();
      continue;
    }
    ASSERT_FALSE(st.ok()) << src;
    EXPECT_NE(st.error().message().find(want), std::string::npos) << st.error().message();
  }
}

}  // namespace
}  // namespace bpfex::engine
