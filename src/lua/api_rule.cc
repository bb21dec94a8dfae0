// The rule's own lifecycle: on_tick(fn) (job.run for push jobs),
// interval(d), log(msg).
#include <algorithm>
#include <string_view>

#include "base/log.h"
#include "lua/binding.h"

namespace bpfex::lua {
namespace {

int onTick(lua_State* L) {
  RuleCore* r = core(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (r->in_tick) return luaL_error(L, "on_tick is called at the top level of a rule");
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->tick_fns_ref);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, static_cast<int>(lua_objlen(L, -2) + 1));
  return 0;
}

int interval(lua_State* L) {
  const double secs = durationArg(L, 1, "interval");
  if (!(secs > 0) || secs > 86400) return luaL_error(L, "interval must be between 0 and 1 day");
  core(L)->interval = secs;
  return 0;
}

// At most kMaxLogLines lines of at most kMaxLogBytes per run: a rule that
// logs in a loop must not flood the daemon's log (the rest are counted and
// reported once when the run ends, Rule::run).
constexpr uint32_t kMaxLogLines = 50;
constexpr size_t kMaxLogBytes = 4096;
int log(lua_State* L) {
  RuleCore* r = core(L);
  size_t len = 0;
  const char* msg = luaL_checklstring(L, 1, &len);
  if (r->log_lines >= kMaxLogLines) {
    ++r->log_suppressed;
    return 0;
  }
  ++r->log_lines;
  const std::string_view text(msg, std::min(len, kMaxLogBytes));
  BPFEX_LOG_INFO("rule {}: {}{}", r->name, text, len > kMaxLogBytes ? " [truncated]" : "");
  return 0;
}

}  // namespace

void openRuleApi(Binder& b) {
  b.functions(nullptr, {{"on_tick", &guarded<&onTick>}, {"interval", &guarded<&interval>}, {"log", &guarded<&log>}});
}

}  // namespace bpfex::lua
