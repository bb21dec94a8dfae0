// The rule engine in-process: Lua API tests (written in Lua, run in the real
// sandbox), hostile rules, reload, and series lifetime. BPF maps come from a
// fake DataSource (unit tests only; the privileged suite uses real maps).
#include "engine/rule_engine.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <variant>

#include "base/clock.h"
#include "engine/engine.h"
#include "engine/recorded_data.h"
#include "metrics/exposition.h"

namespace bpfex::engine {
namespace {

namespace fs = std::filesystem;

// Map contents for the rules come from RecordedData (what `bpfex test` uses).
using FakeData = RecordedData;

// A registry, an engine and a rule engine, driven tick by tick.
struct Harness {
  explicit Harness(lua::RuleLimits limits = {.time_budget_seconds = 0.3, .memory_bytes = 16u << 20},
                   metrics::RegistryLimits rl = {})
      : registry(rl), engine(registry, publisher, {}), rules(registry, &data, limits) {
    engine.addCollector("rules", rules.collector(engine));
    dir = fs::temp_directory_path() / ("bpfex-rules-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir);
  }
  ~Harness() { fs::remove_all(dir); }
  std::string file(const std::string& name, const std::string& src) {
    const std::string p = (dir / name).string();
    std::ofstream(p) << src;
    return p;
  }
  std::optional<double> value(const std::string& fam, metrics::LabelValues lv = {}) {
    metrics::Family* f = registry.find(fam);
    return f ? f->value(lv) : std::nullopt;
  }
  double errors(const std::string& rule, const std::string& kind) {
    return value("bpfex_rule_errors_total", {(dir / rule).string(), kind}).value_or(0);
  }
  std::string text() {
    metrics::Buffer b;
    metrics::renderRegistry(registry, metrics::Format::kText004, b);
    return std::string(b.view());
  }
  static inline int counter = 0;
  metrics::Registry registry;
  metrics::Publisher publisher;
  Engine engine;
  FakeData data;
  RuleEngine rules;
  fs::path dir;
};

void addFlows(FakeData& d) {
  ASSERT_TRUE(d.addMap("t/flows", "u32 ifindex; char proto[8]", "u64 packets; u64 bytes; u64 slots[4]", 64).ok());
  ASSERT_TRUE(d.setEntries("t/flows", {{{{"ifindex", 2.0}, {"proto", std::string("tcp")}},
                                        {{"packets", 100.0}, {"bytes", 6400.0}, {"slots[0]", 1.0}, {"slots[3]", 9.0}}},
                                       {{{"ifindex", 3.0}, {"proto", std::string("udp")}},
                                        {{"packets", 7.0}, {"bytes", 700.0}}}})
                  .ok());
}

class LuaApiTests : public ::testing::TestWithParam<std::string> {};

TEST_P(LuaApiTests, PassInsideTheSandbox) {
  Harness h;
  addFlows(h.data);
  const std::string path = std::string(LUA_TEST_DIR) + "/" + GetParam();
  auto st = h.rules.reload({path});
  ASSERT_TRUE(st.ok()) << st.error().message();
  for (int i = 0; i < 3; ++i) h.engine.tick();
  // The tests assert inside; ticks prove the assertions ran, every time.
  EXPECT_EQ(h.value("lua_test_ticks"), 3) << h.rules.statusJson();
  EXPECT_EQ(h.value("bpfex_rule_errors_total", {path, "runtime"}).value_or(0), 0) << h.rules.statusJson();
  EXPECT_EQ(h.value("bpfex_rule_errors_total", {path, "timeout"}).value_or(0), 0);
}

INSTANTIATE_TEST_SUITE_P(Files, LuaApiTests, ::testing::Values("sandbox_test.lua", "api_test.lua", "vec_test.lua"));

TEST(Rules, ApiTestProducesTheExpectedSeries) {
  Harness h;
  addFlows(h.data);
  ASSERT_TRUE(h.rules.reload({std::string(LUA_TEST_DIR) + "/api_test.lua"}).ok());
  h.engine.tick();
  h.engine.tick();
  const std::string t = h.text();
  EXPECT_NE(t.find("api_packets_total{ifindex=\"2\",proto=\"tcp\"} 100\n"), std::string::npos) << t;
  EXPECT_NE(t.find("api_packets_total{ifindex=\"3\",proto=\"udp\"} 7\n"), std::string::npos);
  EXPECT_NE(t.find("api_latency_seconds_bucket{le=\"0.01\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("api_latency_q_seconds{quantile=\"0.99\"} 0.05\n"), std::string::npos);
  EXPECT_NE(t.find("api_build_info{version=\"1.2.3\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("api_by_name{a=\"x\",b=\"y\"} 7\n"), std::string::npos);
  // The deliberately negative counter write: counted per tick as a metric error.
  EXPECT_EQ(h.errors("../" + fs::path(LUA_TEST_DIR).filename().string() + "/api_test.lua", "metric"), 0);
  EXPECT_EQ(h.value("bpfex_rule_errors_total", {std::string(LUA_TEST_DIR) + "/api_test.lua", "metric"}), 2);
}

TEST(Rules, CompileErrorsNameFileAndLine) {
  Harness h;
  const std::string bad = h.file("bad.lua", "local x = 1\nlocal y = = 2\n");
  auto st = h.rules.reload({bad});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find(bad + ":2:"), std::string::npos) << st.error().message();
  const std::string bad2 = h.file("bad2.lua", "metric.counter('no_total_suffix', 'x')\n");
  st = h.rules.reload({bad2});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find(bad2 + ":1:"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find("counter names must end in _total"), std::string::npos);
  const std::string clash = h.file("clash.lua", "metric.gauge('process_open_fds', 'mine')\non_tick(function() end)\n");
  h.registry.family({.name = "process_open_fds"}).value();
  st = h.rules.reload({clash});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("is reserved"), std::string::npos) << st.error().message();
  const std::string reserved = h.file("reserved.lua", "__bpfex_chk = nil\n");
  st = h.rules.reload({reserved});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("reserved name"), std::string::npos);
  EXPECT_EQ(h.value("bpfex_config_last_reload_successful"), 0);
}

TEST(Rules, TwoRulesCannotDeclareTheSameMetric) {
  Harness h;
  const std::string a = h.file("a.lua", "metric.gauge('shared_g', 'x')\n");
  const std::string b = h.file("b.lua", "metric.gauge('shared_g', 'x')\n");
  auto st = h.rules.reload({h.dir.string()});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("also declared by"), std::string::npos);
}

// ---- hostile rules: each time the daemon lives, the offender is counted and
// shown, and a good rule next to it keeps serving ------------------------------

struct Hostile {
  const char* name;
  const char* body;  // inside on_tick
  std::vector<std::string> kinds;  // acceptable error kinds
};

class HostileRules : public ::testing::TestWithParam<Hostile> {};

TEST_P(HostileRules, AreContainedAndCounted) {
  const Hostile& hr = GetParam();
  Harness h({.time_budget_seconds = 0.3, .memory_bytes = 16u << 20}, {.max_series = 100000, .max_series_per_family = 10000});
  h.file("good.lua", "local g = metric.counter('good_ticks_total', 'ticks')\non_tick(function() g:add({}, 1) end)\n");
  h.file("hostile.lua", std::string("local g = metric.gauge('hostile_g', 'x', {'k'})\n"
                                    "on_tick(function()\n  g:set({'before'}, 1)\n  ") + hr.body + "\nend)\n");
  auto st = h.rules.reload({h.dir.string()});
  ASSERT_TRUE(st.ok()) << st.error().message();
  for (int i = 0; i < 2; ++i) h.engine.tick();
  EXPECT_EQ(h.value("good_ticks_total"), 2) << "the good rule stopped serving";
  double counted = 0;
  for (const auto& k : hr.kinds) counted += h.errors("hostile.lua", k);
  EXPECT_GE(counted, 1) << h.rules.statusJson();
  // Every tick is accounted for: a failed run, or a run skipped because the
  // rule keeps hitting its budget (backoff).
  const double skipped = h.value("bpfex_rule_skipped_runs_total", {(h.dir / "hostile.lua").string(), "backoff"}).value_or(0);
  EXPECT_GE(counted + skipped, 2) << h.rules.statusJson();
  EXPECT_NE(h.rules.statusJson().find("\"last_error\""), std::string::npos);
  // Its last good series keep serving.
  EXPECT_EQ(h.value("hostile_g", {"before"}), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Each, HostileRules,
    ::testing::Values(
        Hostile{"jit_loop", "local x = 0\n  while true do x = x + 1 end", {"timeout"}},
        Hostile{"interpreted_loop", "while true do for _ in pairs({1}) do end end", {"timeout"}},
        Hostile{"tail_call_loop", "local function f(n) return f(n + 1) end\n  f(1)", {"timeout"}},
        Hostile{"goto_loop", "::top:: goto top", {"timeout"}},
        Hostile{"pcall_swallowing_loop", "while true do pcall(function() while true do end end) end", {"timeout"}},
        Hostile{"memory_bomb", "local t = {}\n  while true do t[#t + 1] = string.rep('x', 1000) .. #t end", {"memory"}},
        Hostile{"error", "error('boom')", {"runtime"}},
        Hostile{"os_execute", "os.execute('id')", {"runtime"}},
        Hostile{"string_rep_bomb", "local s = string.rep('x', 2^30)", {"memory", "runtime"}},
        Hostile{"deep_recursion", "local function f(n) return 1 + f(n + 1) end\n  f(1)", {"runtime", "memory"}},
        Hostile{"million_labels", "for i = 1, 1e6 do g:set({tostring(i)}, i) end", {"metric", "timeout"}}),
    [](const ::testing::TestParamInfo<Hostile>& i) { return std::string(i.param.name); });

TEST(Rules, AMillionDistinctLabelValuesAreCappedNotGrown) {
  // A generous budget: this test is about the cap, not the clock (ASan is slow).
  Harness h({.time_budget_seconds = 120, .memory_bytes = 64u << 20}, {.max_series = 100000, .max_series_per_family = 10000});
  h.file("many.lua", "local g = metric.gauge('many_g', 'x', {'k'})\n"
                     "on_tick(function() for i = 1, 1e6 do g:set({tostring(i)}, i) end end)\n");
  ASSERT_TRUE(h.rules.reload({h.dir.string()}).ok());
  h.engine.tick();
  EXPECT_EQ(h.registry.find("many_g")->size(), 10000u);
  EXPECT_EQ(h.registry.find("many_g")->dropped(), 990000u);
  EXPECT_EQ(h.errors("many.lua", "metric"), 990000);
}

TEST(Rules, ReloadGoodBadGood) {
  Harness h;
  const std::string path = h.file("r.lua", "local c = metric.counter('r_ticks_total', 'x')\n"
                                           "on_tick(function() c:add({}, 1) end)\n");
  ASSERT_TRUE(h.rules.reload({path}).ok());
  h.engine.tick();
  h.engine.tick();
  EXPECT_EQ(h.value("r_ticks_total"), 2);

  h.file("r.lua", "local c = metric.counter('r_ticks_total', 'x')\non_tick(function() c:add({}, 1) end\n");  // syntax
  auto st = h.rules.reload({path});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(h.value("bpfex_config_last_reload_successful"), 0);
  h.engine.tick();
  EXPECT_EQ(h.value("r_ticks_total"), 3) << "the old rule must keep running";
  EXPECT_NE(h.rules.statusJson().find("r.lua:3: ')' expected"), std::string::npos) << h.rules.statusJson();

  h.file("r.lua", "local c = metric.counter('r_ticks_total', 'x')\n"
                  "local g = metric.gauge('r_new', 'x')\n"
                  "on_tick(function() c:add({}, 10); g:set({}, 1) end)\n");
  ASSERT_TRUE(h.rules.reload({path}).ok());
  EXPECT_EQ(h.value("bpfex_config_last_reload_successful"), 1);
  h.engine.tick();
  EXPECT_EQ(h.value("r_ticks_total"), 13) << "the counter must carry on across the reload";
  EXPECT_EQ(h.value("r_new"), 1);

  // Dropping the rule removes its families.
  ASSERT_TRUE(h.rules.reload({}).ok());
  EXPECT_EQ(h.registry.find("r_ticks_total"), nullptr);
}

TEST(Rules, SeriesARuleStopsProducingLeave) {
  Harness h;
  h.file("s.lua", "local g = metric.gauge('s_g', 'x', {'k'})\nlocal n = 0\n"
                  "on_tick(function() n = n + 1; g:set({'a'}, n); if n == 1 then g:set({'b'}, n) end end)\n");
  ASSERT_TRUE(h.rules.reload({h.dir.string()}).ok());
  h.engine.tick();
  EXPECT_TRUE(h.value("s_g", {"b"}).has_value());
  h.engine.tick();
  EXPECT_FALSE(h.value("s_g", {"b"}).has_value());
  EXPECT_EQ(h.value("s_g", {"a"}), 2);
}

TEST(Rules, ARuleRunsAtItsOwnInterval) {
  Harness h;
  h.file("slow.lua", "interval('1h')\nlocal c = metric.counter('slow_runs_total', 'x')\n"
                     "on_tick(function() c:add({}, 1) end)\n");
  ASSERT_TRUE(h.rules.reload({h.dir.string()}).ok());
  for (int i = 0; i < 3; ++i) h.engine.tick();
  EXPECT_EQ(h.value("slow_runs_total"), 1);  // and the series stays between runs
}

// A 30 s rule on a 5 s tick runs every sixth tick, on its grid, however late
// in each tick the rule collector starts (here up to 9 ms, as the collectors
// before it vary). The old due test (now - last_run >= 30 s - 1 ms) slipped
// a whole tick whenever a run started later than the next one would.
// After a stop of 100 s (SIGSTOP), the missed slots are skipped: one run,
// then the grid again, never a burst.
TEST(Rules, ARuleKeepsItsIntervalsGrid) {
  Harness h;
  h.file("slow.lua", "interval('30s')\nlocal c = metric.counter('slow_runs_total', 'x')\n"
                     "on_tick(function() c:add({}, 1) end)\n");
  ASSERT_TRUE(h.rules.reload({h.dir.string()}).ok());
  double t = 0;
  h.rules.setClock([&t] { return t; }, [&t] { return 1000 + t; });
  const double late[] = {0.0087, 0, 0.004, 0.0001, 0.009, 0.002, 0};
  std::vector<int> ran;
  double runs = 0;
  for (int k = 0; k <= 60; ++k) {
    t = 5.0 * k + late[k % 7];
    h.engine.tick();
    if (*h.value("slow_runs_total") != runs) ran.push_back(k);
    runs = *h.value("slow_runs_total");
  }
  const std::vector<int> want{0, 6, 12, 18, 24, 30, 36, 42, 48, 54, 60};
  EXPECT_EQ(ran, want);
  ran.clear();
  for (int k = 81; k <= 96; ++k) {  // 100 s stopped after tick 60
    t = 5.0 * k + late[k % 7];
    h.engine.tick();
    if (*h.value("slow_runs_total") != runs) ran.push_back(k);
    runs = *h.value("slow_runs_total");
  }
  EXPECT_EQ(ran, (std::vector<int>{81, 84, 90, 96}));
}

// NetProbe's collection counter continues across a reload: it counted in a
// Lua local set each tick, which started from 0 again with the new state.
TEST(Rules, NetprobeCollectionsContinueAcrossReloads) {
  Harness h;
  const std::string rule = std::string(SOURCE_ROOT) + "/rules/netprobe.lua";
  ASSERT_TRUE(h.rules.reload({rule}).ok());
  for (int i = 0; i < 3; ++i) h.engine.tick();
  EXPECT_EQ(h.value("netprobe_collection_total"), 3);
  ASSERT_TRUE(h.rules.reload({rule}).ok());
  h.engine.tick();
  EXPECT_EQ(h.value("netprobe_collection_total"), 4);
}

// Six rules that loop until their budget stops them, beside a good one: the
// good rule runs every tick, and a tick's rules stay within its interval
// (before: every looper took its whole budget every tick, and the good rule
// ran 4 times in 10 s at a 1 s tick). Offenders wait (backoff) and run after
// the healthy rules only while the tick has time left; both are counted.
TEST(Rules, SlowRulesDoNotSlowTheOthers) {
  Harness h({.time_budget_seconds = 0.15, .memory_bytes = 16u << 20});
  const double interval = 0.8;  // every looper every tick would take 0.9 s
  h.rules.setTickInterval(interval);
  for (int i = 0; i < 6; ++i)
    h.file("loop" + std::to_string(i) + ".lua", "local g = metric.gauge('loop" + std::to_string(i) +
                                                    "', 'x')\non_tick(function() g:set({}, 1) while true do end end)\n");
  h.file("good.lua", "local c = metric.counter('good_runs_total', 'x')\non_tick(function() c:add({}, 1) end)\n");
  ASSERT_TRUE(h.rules.reload({h.dir.string()}).ok());
  h.engine.tick();  // the first tick: nobody is known to be slow yet
  double longest = 0;
  for (int k = 0; k < 12; ++k) {
    const double t0 = base::monotonicSeconds();
    h.engine.tick();
    longest = std::max(longest, base::monotonicSeconds() - t0);
  }
  EXPECT_EQ(h.value("good_runs_total"), 13);
  // Half the interval for offenders, plus one offender's budget at most.
  EXPECT_LT(longest, interval / 2 + 0.15 + 0.1);
  double backoff = 0, deadline = 0;
  for (int i = 0; i < 6; ++i) {
    const std::string rule = (h.dir / ("loop" + std::to_string(i) + ".lua")).string();
    backoff += h.value("bpfex_rule_skipped_runs_total", {rule, "backoff"}).value_or(0);
    deadline += h.value("bpfex_rule_skipped_runs_total", {rule, "tick_deadline"}).value_or(0);
  }
  EXPECT_GT(backoff, 0);
  EXPECT_GT(deadline, 0);
  EXPECT_NE(h.rules.statusJson().find("\"health\": \"backoff\""), std::string::npos);
}

TEST(Rules, RatesComeFromTheWindow) {
  Harness h;
  ASSERT_TRUE(h.data.addMap("t/c", "u32 id", "u64 n", 4).ok());
  h.file("rate.lua", "local g = metric.gauge('rate_g', 'x')\nlocal w = window('1h')\n"
                     "on_tick(function() for k, v in bpf.map('t/c'):entries() do\n"
                     "  local r = w:increase('x', v.n); if r then g:set({}, r) end end end)\n");
  ASSERT_TRUE(h.rules.reload({h.dir.string()}).ok());
  double t = 0;
  h.rules.setClock([&t] { return t; }, [&t] { return 1000 + t; });
  for (double n : {10.0, 25.0, 5.0 /* reset */, 8.0}) {
    ASSERT_TRUE(h.data.setEntries("t/c", {{{{"id", 1.0}}, {{"n", n}}}}).ok());
    h.engine.tick();
    t += 5;
  }
  // 10->25, reset to 5, 5->8: 23 over 15 s, extrapolated as Prometheus does:
  // the first sample is far from the window's start, so by half an interval.
  EXPECT_DOUBLE_EQ(*h.value("rate_g"), 23 * ((15 + 2.5) / 15));
}

TEST(Rules, RangesSeeEveryTickWhateverTheRuleInterval) {
  Harness h;
  const std::string w = h.file("a.lua", "local c = metric.counter('c_total', 'x')\nlocal n = 0\n"
                                        "on_tick(function() n = n + 10; c:set({}, n) end)\n");
  const std::string r = h.file("b.lua", R"(
interval("30s")
local r = range("c_total", "1m")
local g = metric.gauge("seen", "x", {"what"})
on_tick(function()
  for _, s in ipairs(vec.count_over_time(r)) do g:set({"count"}, s.value) end
  for _, s in ipairs(vec.rate(r)) do g:set({"rate"}, s.value) end
end)
)");
  ASSERT_TRUE(h.rules.reload({w, r}).ok());
  double t = 0;
  h.rules.setClock([&t] { return t; }, [&t] { return 1000 + t; });
  for (; t <= 30; t += 5) h.engine.tick();
  // The reader ran at 0 and 30 s, and saw all 7 tick samples (10..70), the
  // current one included: a 30 s window fed by its own runs would hold 2.
  EXPECT_EQ(h.value("seen", {"count"}), 7);
  // 60 over 30 s; extrapolated back to the counter's zero point (5 s before
  // the first sample), not to the range's start: 70 per minute.
  EXPECT_DOUBLE_EQ(*h.value("seen", {"rate"}), 60 * ((30.0 + 5) / 30 / 60));
  EXPECT_EQ(h.value("bpfex_rule_history_series"), 1);
  // Matching as PromQL's k="v": an absent label is "" (and "handle" holding
  // "le=" does not make le present).
  const std::string m = h.file("d.lua", R"(
local c = metric.counter("m_total", "x", {"handle", "action"})
local r = range("m_total", "1m")
local g = metric.gauge("matched", "x", {"match"})
on_tick(function()
  c:set({"h1", "drop"}, 1); c:set({"h2", "pass"}, 1)
  g:set({"drop"}, #vec.count_over_time(r, {action = "drop"}))
  g:set({"no_le"}, #vec.count_over_time(r, {le = ""}))
  g:set({"no_action"}, #vec.count_over_time(r, {action = ""}))
  g:set({"both"}, #vec.count_over_time(r, {action = "pass", handle = "h2"}))
end)
)");
  ASSERT_TRUE(h.rules.reload({w, r, m}).ok());
  h.engine.tick();
  EXPECT_EQ(h.value("matched", {"drop"}), 1);
  EXPECT_EQ(h.value("matched", {"no_le"}), 2);
  EXPECT_EQ(h.value("matched", {"no_action"}), 0);
  EXPECT_EQ(h.value("matched", {"both"}), 1);
  // A range is declared at the top level only.
  h.file("c.lua", "on_tick(function() range('c_total', '1m') end)\n");
  ASSERT_TRUE(h.rules.reload({h.dir.string()}).ok());
  h.engine.tick();
  EXPECT_NE(h.rules.statusJson().find("ranges are declared at the top level"), std::string::npos);
}

TEST(Rules, SeriesReadsOtherFamiliesAsPrometheusWouldScrapeThem) {
  Harness h;
  // The writer runs first (file order), the reader sees this tick's values.
  const std::string w = h.file("a_writer.lua", R"(
local c = metric.counter("w_total", "w", {"hook", "action"})
local s = metric.summary("w_lat", "w", {"hook"}, {0.5, 0.99})
local hi = metric.histogram("w_hist", "w", {}, {1, 2})
local n = 0
on_tick(function()
  n = n + 10
  c:set({"xdp", "drop"}, n)
  c:set({"xdp", "pass"}, 3 * n)
  c:set({"tc", "pass"}, n)
  s:set({"xdp"}, {7, 12}, 100, 10)
  hi:set_buckets({}, {1, 2, 3}, 9)
end)
)");
  const std::string r = h.file("b_reader.lua", R"(
local g = metric.gauge("r_out", "r", {"what"})
local w = window("1m")
on_tick(function()
  local drops = vec.series("w_total", {action = "drop"})
  assert(#drops == 1 and drops[1].labels.hook == "xdp" and drops[1].labels.action == "drop")
  g:set({"drop"}, drops[1].value)
  g:set({"all"}, #vec.series("w_total"))
  local q = vec.series("w_lat", {quantile = "0.99"})
  assert(#q == 1 and q[1].labels.hook == "xdp", "summary quantiles under the family name")
  g:set({"p99"}, q[1].value)
  local b = vec.series("w_hist_bucket", {le = "+Inf"})
  g:set({"inf"}, b[1].value)
  g:set({"count"}, vec.series("w_lat_count")[1].value)
  g:set({"missing"}, #vec.series("no_such_family"))
  local rates = vec.sum_by(vec.rate(w, vec.series("w_total")), {"hook"})
  for _, s in ipairs(rates) do g:set({"rate_" .. s.labels.hook}, s.value) end
end)
)");
  ASSERT_TRUE(h.rules.reload({w, r}).ok());
  h.rules.setClock([] { return 0.0; }, [] { return 1000.0; });
  h.engine.tick();
  h.rules.setClock([] { return 5.0; }, [] { return 1005.0; });
  h.engine.tick();
  EXPECT_EQ(h.value("r_out", {"drop"}), 20) << h.rules.statusJson();
  EXPECT_EQ(h.value("r_out", {"all"}), 3);
  EXPECT_EQ(h.value("r_out", {"p99"}), 12);
  EXPECT_EQ(h.value("r_out", {"inf"}), 6);  // cumulative: 1 + 2 + 3
  EXPECT_EQ(h.value("r_out", {"count"}), 10);
  EXPECT_EQ(h.value("r_out", {"missing"}), 0);
  // A 1 m window with two samples 5 s apart, as Prometheus' rate() would
  // have it: 10->20 and 30->60 extrapolated back to their zero points (5 s
  // earlier), over 60 s.
  EXPECT_DOUBLE_EQ(*h.value("r_out", {"rate_xdp"}), (10 + 30) * 2 / 60.0);
  EXPECT_DOUBLE_EQ(*h.value("r_out", {"rate_tc"}), 10 * 2 / 60.0);
}

TEST(Rules, StateRoundTripsThroughTheStateDirectory) {
  Harness h;
  h.rules.setState(h.dir.string(), 4);
  const std::string r = h.file("state.lua", R"(
local g = metric.gauge("st_out", "s", {"what"})
on_tick(function()
  local before = state.read("counter")
  local n = (before and before.n or 0) + 1
  assert(state.write("counter", {n = n, list = {1, 2, 3}, nested = {ok = true, name = "x"}}))
  local after = state.read("counter")
  assert(after.list[3] == 3 and after.nested.ok == true and after.nested.name == "x")
  g:set({"n"}, after.n)
  g:set({"restarts"}, bpfex.restarts())
  local ok = pcall(state.write, "../escape", {})
  g:set({"bad_name_refused"}, ok and 0 or 1)
  local p = bpfex.process()
  g:set({"rss_positive"}, p.resident_bytes > 0 and p.virtual_bytes >= p.resident_bytes and 1 or 0)
end)
)");
  ASSERT_TRUE(h.rules.reload({r}).ok());
  h.engine.tick();
  h.engine.tick();
  EXPECT_EQ(h.value("st_out", {"n"}), 2) << h.rules.statusJson();
  EXPECT_EQ(h.value("st_out", {"restarts"}), 4);
  EXPECT_EQ(h.value("st_out", {"bad_name_refused"}), 1);
  EXPECT_EQ(h.value("st_out", {"rss_positive"}), 1);
  std::ifstream in(h.dir / "counter.json");
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(json.find("\"n\":2"), std::string::npos) << json;
}

TEST(Rules, AlertForStateSurvivesARestartThroughTheStateDirectory) {
  const std::string src = R"(
local a = alert{ name = "Slow", ["for"] = "20m", labels = { severity = "warning" } }
on_tick(function() a:fire({ hook = "xdp" }, 1) end)
)";
  fs::path dir;
  std::string rule;
  {
    Harness h;
    dir = h.dir / "state";
    fs::create_directories(dir);
    rule = h.file("slow.lua", src);
    h.rules.setState(dir.string(), 0);
    ASSERT_TRUE(h.rules.reload({rule}).ok());
    h.rules.setClock([] { return 0.0; }, [] { return 10000.0; });
    h.engine.tick();  // active at 10000
    h.rules.setClock([] { return 600.0; }, [] { return 10600.0; });
    h.engine.tick();  // last seen up at 10600: 10 of 20 minutes pending
    ASSERT_TRUE(fs::exists(dir / "alerts_for_state.json"));
    // The "restart": a new engine over the same state directory, 5 minutes later.
    Harness h2;
    h2.rules.setState(dir.string(), 1);
    ASSERT_TRUE(h2.rules.reload({rule}).ok());
    h2.rules.setClock([] { return 0.0; }, [] { return 10900.0; });
    h2.engine.tick();
    // Restored: ActiveAt 10000 + 300 s of downtime, not 10900.
    const std::string t = h2.text();
    EXPECT_NE(t.find("ALERTS_FOR_STATE{alertname=\"Slow\",hook=\"xdp\",severity=\"warning\"} 10300\n"), std::string::npos) << t;
    h2.rules.setClock([] { return 1.0; }, [] { return 11500.0; });  // 10300 + 1200
    h2.engine.tick();
    EXPECT_NE(h2.text().find("ALERTS{alertname=\"Slow\",alertstate=\"firing\",hook=\"xdp\",severity=\"warning\"} 1"),
              std::string::npos) << h2.text();
  }
}

}  // namespace
}  // namespace bpfex::engine

namespace bpfex::engine {
namespace {

// Views point into a tick's map buffers: a rule that keeps an iterator, a
// key or a value view into a later run gets an error, never freed memory
// (the buffers are replaced between runs; under ASan a read would be caught).
TEST(Rules, MapViewsKeptPastTheirRunRefuseToRead) {
  Harness h;
  addFlows(h.data);
  h.file("keeper.lua", R"(
local g = metric.gauge("kept_ok", "checks passed", { "what" })
local m = bpf.map("t/flows")
local it, key, value
on_tick(function(t)
  if not it then
    it = m:entries()
    key, value = it()
    assert(key.ifindex == 2 and value.packets == 100)
    for k, v in m:entries() do value = v end
    assert(value.packets == 7, "after the loop, the last entry, for the rest of the run")
    return
  end
  local ok1, e1 = pcall(it)
  local ok2, e2 = pcall(function() return key.ifindex end)
  local ok3, e3 = pcall(function() return value.bytes end)
  g:set({ "iterator" }, (not ok1 and tostring(e1):find("used after its run")) and 1 or 0)
  g:set({ "key" }, (not ok2 and tostring(e2):find("used after its loop step")) and 1 or 0)
  g:set({ "value" }, (not ok3 and tostring(e3):find("used after its loop step")) and 1 or 0)
end)
)");
  ASSERT_TRUE(h.rules.reload({h.dir.string()}).ok());
  h.engine.tick();
  addFlows(h.data);  // new buffers, as every tick's read gives
  h.engine.tick();
  EXPECT_EQ(h.value("kept_ok", {"iterator"}), 1) << h.rules.statusJson();
  EXPECT_EQ(h.value("kept_ok", {"key"}), 1);
  EXPECT_EQ(h.value("kept_ok", {"value"}), 1);
  EXPECT_EQ(h.errors("keeper.lua", "runtime"), 0) << h.rules.statusJson();
}

// 64-bit integers reach labels digit for digit through every way a rule
// reads a map (views, lookup(), non-FFI fields), and as lookup keys; samples
// round only as float64 must. (At e3c187c: delta="-9.2233720368548e+18".)
TEST(Rules, SixtyFourBitIntegersReachLabelsExactly) {
  Harness h;
  ASSERT_TRUE(h.data.addMap("t/ids", "s64 delta; u64 id; u32 small", "u64 big; s64 neg; u32 c", 16).ok());
  ASSERT_TRUE(h.data.setEntries("t/ids", {{{{"delta", std::string("-9223372036854775808")},
                                           {"id", std::string("18446744073709551615")}, {"small", 1.0}},
                                          {{"big", std::string("9007199254740993")}, {"neg", std::string("-9007199254740993")}}},
                                         {{{"delta", std::string("-9223372036854775807")},
                                           {"id", std::string("9007199254740993")}, {"small", 2.0}},
                                          {{"big", 5.0}, {"neg", -5.0}}}})
                  .ok());
  h.file("ids.lua", R"(
local g = metric.gauge("ids", "x", { "delta", "id", "small", "big", "neg", "via" })
local n = metric.gauge("id_number", "x", { "small" })
local m = bpf.map("t/ids")
on_tick(function()
  for k, v in m:entries() do
    g:set({ k.delta, k.id, k.small, v.big, v.neg, "view" }, 1)
    local l = m:lookup({ delta = k.delta, id = k.id, small = k.small })
    g:set({ k.delta, k.id, k.small, l.big, l.neg, "lookup" }, 1)
    n:set({ k.small }, v.big)
  end
  assert(m:lookup({ delta = "-9223372036854775808", id = "18446744073709551614", small = 1 }) == nil)
  assert(tostring(123456789012345) == "123456789012345", tostring(123456789012345))
  assert(tostring(2^63) == "9223372036854775808" and tostring(-2^63) == "-9223372036854775808")
  assert(tostring(0.5) == "0.5" and tostring(1e300) == "1e+300" and tostring(12) == "12")
  g:set({ 2^63, 2^64 - 2048, -2^63, 0.5, 1e300, "numbers" }, 1)
end)
)");
  ASSERT_TRUE(h.rules.reload({h.dir.string()}).ok());
  h.engine.tick();
  const std::string t = h.text();
  for (const char* via : {"view", "lookup"}) {
    EXPECT_NE(t.find(std::string(R"(ids{delta="-9223372036854775808",id="18446744073709551615",small="1",big="9007199254740993",neg="-9007199254740993",via=")") + via + "\"}"),
              std::string::npos) << via << "\n" << t << h.rules.statusJson();
    EXPECT_NE(t.find(std::string(R"(ids{delta="-9223372036854775807",id="9007199254740993",small="2",big="5",neg="-5",via=")") + via + "\"}"),
              std::string::npos) << via << "\n" << t;
  }
  EXPECT_NE(t.find(R"(ids{delta="9223372036854775808",id="18446744073709549568",small="-9223372036854775808",big="0.5",neg="1e+300",via="numbers"} 1)"),
            std::string::npos) << t;
  EXPECT_EQ(h.value("id_number", {"1"}), 9007199254740992.0);  // the float64 nearest 2^53 + 1
  EXPECT_EQ(h.errors("ids.lua", "runtime"), 0) << h.rules.statusJson();
}

// A rule refused at load (here: over budget at its top level) never blocks
// the others, and a refused new version keeps the old one running.
TEST(Rules, ARefusedFileLeavesTheOthersLoadedAndItsLastGoodVersionRunning) {
  Harness h;
  h.file("good.lua", "local c = metric.counter('good_total', 'x')\non_tick(function() c:add({}, 1) end)\n");
  const std::string r = h.file("r.lua", "local c = metric.counter('r_total', 'x')\non_tick(function() c:add({}, 1) end)\n");
  ASSERT_TRUE(h.rules.reload({h.dir.string()}).ok());
  h.engine.tick();
  h.file("r.lua", "while true do end\n");
  h.file("new.lua", "metric.gauge('bpfex_mine', 'x')\n");
  auto st = h.rules.reload({h.dir.string()});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find(r + ": its top level ran past the time budget"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find("new.lua:1: metric bpfex_mine is reserved"), std::string::npos) << st.error().message();
  h.engine.tick();
  EXPECT_EQ(h.value("good_total"), 2);
  EXPECT_EQ(h.value("r_total"), 2) << "the last good version of r.lua stopped";
  EXPECT_EQ(h.errors("r.lua", "timeout"), 1);
  EXPECT_EQ(h.errors("new.lua", "compile"), 1);
  const std::string status = h.rules.statusJson();
  EXPECT_NE(status.find("\"health\": \"stale\""), std::string::npos) << status;
  EXPECT_NE(status.find("\"health\": \"refused\""), std::string::npos) << status;
}

}  // namespace
}  // namespace bpfex::engine
