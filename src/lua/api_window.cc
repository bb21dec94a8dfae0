// window(d) -> w; w:rate/increase/delta/irate/idelta/changes/resets/deriv/
// predict_linear/avg/min/max/sum/count/last/quantile(key, v [, arg]): PromQL's
// range functions over the samples a rule feeds a window, per key.
#include <algorithm>
#include <new>
#include <string>

#include "base/clock.h"
#include "lua/binding.h"
#include "lua/history.h"
#include "lua/range_functions.h"

namespace bpfex::lua {
namespace {

constexpr const char* kWindowMeta = "bpfex.window";

int window(lua_State* L) {
  const double secs = durationArg(L, 1, "window");
  if (!(secs > 0) || secs > 86400) return luaL_error(L, "a window is between 0 and 1 day");
  // The window lives in the userdata: collected with it (__gc), and what it
  // holds is charged to the rule (Rule::memoryBytes, the cap).
  void* mem = lua_newuserdata(L, sizeof(HistoryWindow));
  new (mem) HistoryWindow(secs);
  luaL_getmetatable(L, kWindowMeta);
  lua_setmetatable(L, -2);
  return 1;
}

int windowGc(lua_State* L) {
  auto* w = static_cast<HistoryWindow*>(luaL_checkudata(L, 1, kWindowMeta));
  RuleCore* r = core(L);
  r->window_bytes -= std::min(r->window_bytes, w->bytes());
  w->~HistoryWindow();
  return 0;
}

// w:<fn>(key, v [, arg]): adds the sample v of key at this run's time, and
// returns fn over the key's window (nil: no result, as PromQL's absent).
template <RangeFn Fn>
int windowOp(lua_State* L) {
  RuleCore* r = core(L);
  auto* w = static_cast<HistoryWindow*>(luaL_checkudata(L, 1, kWindowMeta));
  size_t len = 0;
  const char* k = luaL_checklstring(L, 2, &len);
  const double v = luaL_checknumber(L, 3);
  const double arg = rangeFnTakesArg(Fn) ? luaL_checknumber(L, 4) : 0;
  const double now = r->ctx ? r->ctx->now_mono : base::monotonicSeconds();
  const std::string key(k, len);
  const size_t before = w->bytes();
  if (r->mem_limited && r->mem_used + r->window_bytes + key.size() + 1024 > r->limits.memory_bytes)
    return luaL_error(L, "not enough memory: the rule's windows and Lua heap reach its cap of %d bytes",
                      static_cast<int>(std::min<size_t>(r->limits.memory_bytes, INT32_MAX)));
  w->add(key, now, v);
  r->window_bytes = r->window_bytes - std::min(r->window_bytes, before) + w->bytes();
  const std::optional<double> out = w->eval(Fn, key, now, arg);
  if (out) lua_pushnumber(L, *out);
  else lua_pushnil(L);
  return 1;
}

}  // namespace

void openWindowApi(Binder& b) {
  b.handleType(kWindowMeta,
               {{"rate", &guarded<&windowOp<RangeFn::kRate>>},
                {"increase", &guarded<&windowOp<RangeFn::kIncrease>>},
                {"delta", &guarded<&windowOp<RangeFn::kDelta>>},
                {"irate", &guarded<&windowOp<RangeFn::kIrate>>},
                {"idelta", &guarded<&windowOp<RangeFn::kIdelta>>},
                {"changes", &guarded<&windowOp<RangeFn::kChanges>>},
                {"resets", &guarded<&windowOp<RangeFn::kResets>>},
                {"deriv", &guarded<&windowOp<RangeFn::kDeriv>>},
                {"predict_linear", &guarded<&windowOp<RangeFn::kPredictLinear>>},
                {"avg", &guarded<&windowOp<RangeFn::kAvg>>},
                {"min", &guarded<&windowOp<RangeFn::kMin>>},
                {"max", &guarded<&windowOp<RangeFn::kMax>>},
                {"sum", &guarded<&windowOp<RangeFn::kSum>>},
                {"count", &guarded<&windowOp<RangeFn::kCount>>},
                {"last", &guarded<&windowOp<RangeFn::kLast>>},
                {"quantile", &guarded<&windowOp<RangeFn::kQuantile>>}},
               &windowGc);
  b.functions(nullptr, {{"window", &guarded<&window>}});
}

}  // namespace bpfex::lua
