#include "lua/rule.h"

#include <lua.hpp>

#include <cerrno>
#include <cstring>

#include "base/clock.h"
#include "base/log.h"
#include "lua/binding.h"
#include "lua/instrument.h"
#include "lua/map_export.h"
#include "lua/rule_core.h"
#include "lua/watchdog.h"
#include "lua_prelude.h"  // generated: kPreludeSource

namespace bpfex::lua {

using base::Error;
using base::Result;
using base::Status;

std::string_view errorKindName(ErrorKind k) {
  switch (k) {
    case ErrorKind::kNone: return "none";
    case ErrorKind::kCompile: return "compile";
    case ErrorKind::kRuntime: return "runtime";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kMemory: return "memory";
    case ErrorKind::kMetric: return "metric";
    case ErrorKind::kLimit: return "limit";
  }
  return "runtime";
}

ErrorKind loadErrorKind(const base::Error& e) {
  switch (e.code()) {
    case ETIME: return ErrorKind::kTimeout;
    case ENOMEM: return ErrorKind::kMemory;
    case E2BIG: return ErrorKind::kLimit;
    default: return ErrorKind::kCompile;
  }
}

Rule::Rule(std::unique_ptr<RuleCore> core) : core_(std::move(core)) {}

Rule::~Rule() {
  // Closing runs the finalizers (windows, the domains' states) while the core lives.
  if (core_->L != nullptr) lua_close(core_->L);
}

const std::string& Rule::name() const { return core_->name; }
const std::vector<metrics::FamilyOptions>& Rule::declarations() const { return core_->decls; }
int Rule::declarationLine(size_t i) const { return i < core_->decl_lines.size() ? core_->decl_lines[i] : 0; }
const std::vector<metrics::Family*>& Rule::families() const { return core_->families; }
const std::vector<AlertDecl>& Rule::alerts() const { return core_->alert_decls; }
const std::vector<AlertFiring>& Rule::fired() const { return core_->fired; }
double Rule::intervalSeconds() const { return core_->interval; }
const std::vector<RangeDecl>& Rule::ranges() const { return core_->ranges; }
size_t Rule::memoryBytes() const { return core_->mem_used + core_->window_bytes + core_->fired_bytes; }
const std::string& Rule::lastMetricError() const { return core_->last_metric_error; }
const std::string& Rule::jobFailure() const { return core_->job_failure; }

Result<std::unique_ptr<Rule>> Rule::load(const std::string& name, const std::string& source, const RuleLimits& limits,
                                         const std::map<std::string, std::string>& params, RuleKind kind) {
  auto core = std::make_unique<RuleCore>();
  core->name = name;
  core->limits = limits;
  core->L = lua_newstate(&RuleCore::allocate, core.get());
  if (core->L == nullptr) return Error::msg(name + ": cannot create a Lua state");
  std::unique_ptr<Rule> r(new Rule(std::move(core)));
  if (auto st = r->runTopLevel(source, params, kind); !st) return std::move(st).error();
  const RuleCore& c = *r->core_;
  lua_rawgeti(c.L, LUA_REGISTRYINDEX, c.tick_fns_ref);
  const size_t fns = lua_objlen(c.L, -1);
  lua_pop(c.L, 1);
  if (fns == 0 && c.decls.empty() && c.alert_decls.empty())
    return Error::msg(name + ": the rule declares no metrics and no on_tick function");
  return r;
}

Status Rule::runTopLevel(const std::string& source, const std::map<std::string, std::string>& params, RuleKind kind) {
  RuleCore& c = *core_;
  const std::string& name = c.name;
  auto instrumented = instrumentSource(source, name);
  if (!instrumented) return std::move(instrumented).error();
  lua_State* L = c.L;
  luaL_openlibs(L);
  lua_newtable(L);
  c.tick_fns_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  // The prelude: trusted, with ffi; builds the rule's environment from `api`.
  lua_pushcfunction(L, traceback);
  const int handler = lua_gettop(L);
  if (luaL_loadbuffer(L, kPreludeSource, std::strlen(kPreludeSource), "=bpfex/prelude.lua") != 0)
    return Error::msg(std::string("prelude: ") + lua_tostring(L, -1));
  lua_newtable(L);  // api
  Binder b(L, &c, lua_gettop(L));
  openRuleApi(b);
  openMetricApi(b);
  openAlertApi(b);
  openBpfMapApi(b);
  openBpfEventsApi(b);
  openBpfProgramsApi(b);
  openWindowApi(b);
  openSeriesApi(b);
  openHostApi(b);
  openBpfexApi(b);
  openStateApi(b);
  openTextApi(b);
  if (kind == RuleKind::kJob) openJobApi(b);
  lua_newtable(L);
  for (const auto& [k, v] : params) {
    lua_pushlstring(L, v.data(), v.size());
    lua_setfield(L, -2, k.c_str());
  }
  b.setField("params");
  lua_pushlightuserdata(L, reinterpret_cast<void*>(&bpfexBudgetExpired));
  b.setField("budget_fn");
  lua_pushlightuserdata(L, &c.call_depth);
  b.setField("call_depth");
  lua_pushnumber(L, c.limits.max_call_depth);
  b.setField("max_call_depth");
  lua_pushlightuserdata(L, const_cast<uint32_t*>(&c.abort_flag));
  if (lua_pcall(L, 2, 3, handler) != 0) return Error::msg(std::string("prelude: ") + lua_tostring(L, -1));
  on_run_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);  // pops on_run
  // Stack: handler, env, chk.

  // The rule: instrumented text, compiled with the budget check bound as a
  // local of the chunk (`...`), so the rule cannot replace it.
  const std::string chunk = "local " + std::string(kBudgetCheck) + " = ...; " + instrumented.value();
  // From here on the rule's own text runs (the parser included): under its
  // memory cap, and its top level under the time budget, exactly like a tick.
  c.mem_limited = true;
  if (int rc = luaL_loadbuffer(L, chunk.data(), chunk.size(), ("@" + name).c_str()); rc != 0) {
    const char* m = lua_tostring(L, -1);
    return Error(rc == LUA_ERRMEM ? ENOMEM : 0, rc == LUA_ERRMEM ? name + ": not enough memory (the rule's cap) to compile it"
                                                                 : c.fullChunkNames(m ? m : "syntax error"));
  }
  lua_pushvalue(L, -3);  // env
  lua_setfenv(L, -2);
  lua_pushvalue(L, -2);  // chk, as the chunk's `...`
  c.abort_flag = 0;
  c.call_depth = 0;
  auto armed = Watchdog::shared().arm(*this, c.limits.time_budget_seconds);
  const int rc = lua_pcall(L, 1, 0, handler);
  // A top level that outlived its budget is refused even if it caught every
  // budget error and returned: it would do the same at every reload.
  if (rc != 0 || armed.fired()) {
    std::string msg = rc == 0 ? "time budget exceeded" : lua_tostring(L, -1) ? lua_tostring(L, -1) : "error";
    if (const size_t tb = msg.find("\nstack traceback:"); tb != std::string::npos) msg.resize(tb);
    msg = c.fullChunkNames(std::move(msg));
    if (rc == LUA_ERRMEM)
      return Error(ENOMEM, name + ": not enough memory: its top level reached the rule's cap of " +
                               std::to_string(c.limits.memory_bytes) + " bytes");
    if (armed.fired() || c.abort_flag != 0)
      return Error(ETIME, name + ": its top level ran past the time budget of " +
                              base::formatSeconds(c.limits.time_budget_seconds) + " (" + msg + ")");
    // Errors raised inside the trusted library carry its position, not the
    // rule's: the file is named all the same.
    if (msg.rfind(name, 0) != 0) msg = name + ": " + msg;
    return Error(c.limit_hit ? E2BIG : 0, msg);
  }
  lua_settop(L, 0);
  return base::okStatus();
}

Status Rule::bind(metrics::Registry& registry) {
  RuleCore& c = *core_;
  c.registry = &registry;
  c.families.clear();
  for (const auto& d : c.decls) {
    auto f = registry.family(d);
    if (!f) return std::move(f).error().context("rule " + c.name);
    c.families.push_back(f.value());
  }
  return base::okStatus();
}

void Rule::abort() {
  core_->abort_flag = 1;
  // The count hook covers interpreted code and C boundaries; the injected
  // check covers compiled traces. lua_sethook is safe to call from another
  // thread (LuaJIT documents it for signal handlers).
  lua_sethook(core_->L, &abortHook, LUA_MASKCOUNT, 1000);
}

bool Rule::runExports(const TickContext& ctx, RunResult& res) {
  RuleCore& c = *core_;
  for (MapExport& e : c.exports) {
    metrics::Family* f = e.decl().decl < c.families.size() ? c.families[e.decl().decl] : nullptr;
    if (f == nullptr || ctx.data == nullptr) continue;
    auto v = ctx.data->mapView(e.decl().map);
    if (v && !v->unavailable.empty()) continue;  // its series go stale; the source counted it
    Status st = v ? e.write(v.value(), *f, &c.metric_errors, &c.last_metric_error)
                  : Status(Error(v.error().code(), e.decl().where + ": " + v.error().message()));
    if (!st) {
      res.kind = ErrorKind::kRuntime;
      res.message = st.error().message();
      return false;
    }
  }
  return true;
}

RunResult Rule::run(const TickContext& ctx) {
  RunResult res;
  RuleCore& c = *core_;
  lua_State* L = c.L;
  c.ctx = &ctx;
  c.in_tick = true;
  c.abort_flag = 0;
  c.metric_errors = 0;
  c.call_depth = 0;
  c.fired.clear();
  c.fired_bytes = 0;
  lua_sethook(L, nullptr, 0, 0);
  lua_settop(L, 0);
  // Views handed out by earlier runs point at freed buffers: a new generation.
  lua_rawgeti(L, LUA_REGISTRYINDEX, on_run_ref_);
  lua_call(L, 0, 0);
  auto armed = Watchdog::shared().arm(*this, c.limits.time_budget_seconds);
  // Declarative exports first (no Lua per entry): the tick functions see
  // their series as any rule's writes, and may add to them.
  const bool exported = runExports(ctx, res);
  lua_pushcfunction(L, traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c.tick_fns_ref);
  const int n = exported ? static_cast<int>(lua_objlen(L, 2)) : 0;
  for (int i = 1; i <= n; ++i) {
    lua_rawgeti(L, 2, i);
    lua_newtable(L);
    lua_pushnumber(L, static_cast<double>(ctx.tick));
    lua_setfield(L, -2, "tick");
    lua_pushnumber(L, ctx.now_unix);
    lua_setfield(L, -2, "now");
    const int rc = lua_pcall(L, 1, 0, 1);
    if (rc == 0 && armed.fired()) {
      // It caught every budget error and returned: still over budget.
      res.kind = ErrorKind::kTimeout;
      res.message = c.name + ": ran past the time budget of " + base::formatSeconds(c.limits.time_budget_seconds) +
                    " (and caught the budget errors)";
      break;
    }
    if (rc != 0) {
      const char* m = lua_tostring(L, -1);
      res.message = c.fullChunkNames(m ? m : "error");
      if (rc == LUA_ERRMEM || res.message.find("not enough memory") != std::string::npos) res.kind = ErrorKind::kMemory;
      else if (armed.fired() || c.abort_flag != 0 || res.message.find("time budget exceeded") != std::string::npos)
        res.kind = ErrorKind::kTimeout;
      else res.kind = ErrorKind::kRuntime;
      break;
    }
  }
  lua_sethook(L, nullptr, 0, 0);
  c.abort_flag = 0;
  c.in_tick = false;
  if (c.log_suppressed > 0) BPFEX_LOG_WARN("rule {}: {} more log lines this run were suppressed", c.name, c.log_suppressed);
  c.log_lines = 0;
  c.log_suppressed = 0;
  c.ctx = nullptr;
  lua_settop(L, 0);
  if (res.kind == ErrorKind::kMemory || c.mem_used > c.limits.memory_bytes / 2) lua_gc(L, LUA_GCCOLLECT, 0);
  res.metric_errors = c.metric_errors;
  if (res.kind == ErrorKind::kNone && c.metric_errors > 0) {
    res.kind = ErrorKind::kMetric;
    res.message = c.last_metric_error + (c.metric_errors > 1 ? " (and " + std::to_string(c.metric_errors - 1) + " more)" : "");
  }
  return res;
}

}  // namespace bpfex::lua
