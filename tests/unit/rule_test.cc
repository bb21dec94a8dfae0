// lua::Rule on its own (rule.h, rule_core.h, binding.h): the environment a
// file gets by its kind, typed handles, and the facts bindings give. The Lua
// API itself is tested in Lua, in the sandbox (tests/lua, rules_test.cc).
#include "lua/rule.h"

#include <gtest/gtest.h>

#include <ctime>

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

}  // namespace
}  // namespace bpfex::lua
