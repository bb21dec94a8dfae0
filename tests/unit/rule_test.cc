// lua::Rule on its own (rule.h, rule_core.h, binding.h): the environment a
// file gets by its kind, typed handles, and the facts bindings give. The Lua
// API itself is tested in Lua, in the sandbox (tests/lua, rules_test.cc).
#include "lua/rule.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <future>
#include <random>

#include "metrics/exposition.h"

namespace bpfex::lua {
namespace {

std::string scrape(const metrics::Registry& r) {
  metrics::Buffer b;
  metrics::renderRegistry(r, metrics::Format::kText004, b);
  return std::string(b.view());
}

struct Loaded {
  std::unique_ptr<Rule> rule;
  metrics::Registry registry;
};

std::unique_ptr<Loaded> load(const std::string& src, RuleKind kind = RuleKind::kRule) {
  auto r = Rule::load("t.lua", src, {}, {}, kind);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  if (!r.ok()) return nullptr;
  auto l = std::make_unique<Loaded>();
  l->rule = std::move(r).value();
  EXPECT_TRUE(l->rule->bind(l->registry).ok());
  return l;
}

class FakeHost : public JobHost {
 public:
  base::Result<std::pair<long, std::string>> httpGet(const std::string& url, double) override {
    return std::make_pair(200L, "body of " + url);
  }
  base::Result<std::string> readFile(const std::string&, size_t) override { return std::string("file"); }
  base::Result<std::vector<std::string>> walk(const std::string&, size_t) override {
    return std::vector<std::string>{"a", "b"};
  }
};

// http, fs and job exist in a push job's environment only; a daemon rule
// that reaches for them is told why they are missing.
TEST(Rule, JobApisAreForJobsOnly) {
  auto rule = load("local g = metric.gauge('x', 'x')\non_tick(function() http.get('http://a') end)\n");
  ASSERT_TRUE(rule);
  TickContext ctx{.tick = 1};
  const RunResult res = rule->rule->run(ctx);
  EXPECT_EQ(res.kind, ErrorKind::kRuntime);
  EXPECT_NE(res.message.find("t.lua:2: http.get is available to push jobs only"), std::string::npos) << res.message;
  EXPECT_FALSE(Rule::load("j.lua", "job.run(function() end)\n", {}).ok());

  auto job = load(R"(
local g = metric.gauge("body_bytes", "x")
job.run(function()
  local status, body = http.get("http://a")
  g:set({}, #body + status)
  if #fs.walk(".") ~= 2 then job.failed("walk") end
end)
)", RuleKind::kJob);
  ASSERT_TRUE(job);
  FakeHost host;
  TickContext jctx{.tick = 1, .job = &host};
  const RunResult jr = job->rule->run(jctx);
  EXPECT_EQ(jr.kind, ErrorKind::kNone) << jr.message;
  EXPECT_NE(scrape(job->registry).find("body_bytes 216"), std::string::npos) << scrape(job->registry);
  EXPECT_EQ(job->rule->jobFailure(), "");
}

// One metatable per handle type: a handle of one kind is refused where
// another is expected, and a rule cannot reach or replace the methods.
TEST(Rule, HandlesAreTyped) {
  auto rule = load(R"(
local g = metric.gauge("typed", "x")
local a = alert{name = "A"}
on_tick(function()
  assert(getmetatable(g) == false and getmetatable(a) == false)
  local ok, err = pcall(a.fire, g, {})
  assert(not ok and err:find("bpfex.alert expected"), err)
  ok, err = pcall(g.set, a, {}, 1)
  assert(not ok and err:find("bpfex.metric expected"), err)
  g:set({}, 1)
end)
)");
  ASSERT_TRUE(rule);
  TickContext ctx{.tick = 1};
  const RunResult res = rule->rule->run(ctx);
  EXPECT_EQ(res.kind, ErrorKind::kNone) << res.message;
}

// bpfex.process() is the process_* self-metrics' reading: start time in
// Unix seconds (it was seconds since boot before the two readers became one).
TEST(Rule, ProcessFactsMatchTheSelfMetrics) {
  auto rule = load(R"(
local g = metric.gauge("start", "x")
on_tick(function() g:set({}, bpfex.process().start_time_seconds) end)
)");
  ASSERT_TRUE(rule);
  TickContext ctx{.tick = 1};
  ASSERT_EQ(rule->rule->run(ctx).kind, ErrorKind::kNone);
  const std::string text = scrape(rule->registry);
  const double start = std::stod(text.substr(text.find("\nstart ") + 7));
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(start, now - 3600);
  EXPECT_LE(start, now + 1);
}

// The time budget must not depend on the instrumenter reading the source as
// LuaJIT does. Each case hides `while true do end` behind comments, strings
// and line breaks of every kind Lua knows (a bare "\r" ends a short comment,
// as "\n", "\r\n" and "\n\r" do), generated at random. Whatever LuaJIT makes
// of the text, the load ends: refused as a compile error, or stopped by the
// budget. A case that hangs is the bug this guards against (it was a comment
// ended by "\r"), so the wait is bounded and the case printed.
TEST(Rule, BudgetHoldsWhateverTheLineBreaksAndComments) {
  const char* breaks[] = {"\n", "\r", "\r\n", "\n\r"};
  std::mt19937 rng(20261207);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto piece = [&]() -> std::string {
    const std::string nl = breaks[pick(4)], eq(pick(3), '=');
    switch (pick(9)) {
      case 0: return "-- do end" + nl;
      case 1: return "--[" + eq + " not long" + nl;
      case 2: return "--[" + eq + "[ while" + nl + " ]" + eq + "]";
      case 3: return "local s = 'a\\'b'" + nl;
      case 4: return "local s = 'a\\" + nl + "b'" + nl;
      case 5: return "local s = [" + eq + "[ ]] ]=] " + nl + "]" + eq + "]" + nl;
      case 6: return "local t = {}; t.x = 1 --" + nl;
      case 7: return "-- a comment" + std::string(breaks[pick(4)]);
      default: return nl;
    }
  };
  RuleLimits limits;
  limits.time_budget_seconds = 0.02;
  int stopped = 0, refused = 0;
  for (int n = 0; n < 400; ++n) {
    std::string src;
    for (size_t k = 1 + pick(4); k > 0; --k) src += piece();
    src += pick(2) ? "while true do end" : "-- x\rwhile true do end";
    auto run = std::async(std::launch::async, [&] { return Rule::load("t.lua", src, limits); });
    if (run.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      std::string shown;
      for (char c : src) shown += c == '\r' ? std::string("<CR>") : c == '\n' ? std::string("<LF>") : std::string(1, c);
      std::fprintf(stderr, "FAIL: the budget never stopped this source: %s\n", shown.c_str());
      std::_Exit(1);  // the hung load cannot be joined
    }
    auto r = run.get();
    ASSERT_FALSE(r.ok()) << "an endless loop loaded: " << src;
    const ErrorKind kind = loadErrorKind(r.error());
    ASSERT_TRUE(kind == ErrorKind::kTimeout || kind == ErrorKind::kCompile) << r.error().message();
    (kind == ErrorKind::kTimeout ? stopped : refused)++;
  }
  // Most cases are valid Lua, so most must have run their loop into the budget.
  EXPECT_GT(stopped, 200) << refused << " refused";
}

}  // namespace
}  // namespace bpfex::lua
