// bpfex.*: the daemon's own facts: uptime(), now() (the tick's time),
// clock() (real monotonic time), duration(text), restarts(), process().
#include "base/clock.h"
#include "base/process.h"
#include "lua/binding.h"

namespace bpfex::lua {
namespace {

// A duration in seconds, parsed as every duration in bpfex is ("250ms",
// "5m", "1d", or a number of seconds), so rule parameters take the same
// syntax as the config.
int bpfexDuration(lua_State* L) {
  if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TNUMBER)
    return luaL_error(L, "bpfex.duration: expected a duration such as \"5m\"");
  lua_pushnumber(L, durationArg(L, 1, "bpfex.duration"));
  return 1;
}

int bpfexUptime(lua_State* L) {
  static const double start = base::monotonicSeconds();
  lua_pushnumber(L, base::monotonicSeconds() - start);
  return 1;
}

// Real monotonic seconds, for timing work within a run (bpfex.now() is the
// tick's time and does not move during it).
int bpfexClock(lua_State* L) {
  lua_pushnumber(L, base::monotonicSeconds());
  return 1;
}

int bpfexRestarts(lua_State* L) {
  RuleCore* r = core(L);
  lua_pushnumber(L, r->ctx ? static_cast<double>(r->ctx->restarts) : 0);
  return 1;
}

// bpfex.process() -> {resident_bytes, virtual_bytes, cpu_seconds, threads,
// start_time_seconds}: the numbers the process_* self-metrics serve.
int bpfexProcess(lua_State* L) {
  auto ps = base::readProcessStats();
  if (!ps) return luaL_error(L, "bpfex.process: %s", ps.error().message().c_str());
  const std::pair<const char*, double> fields[] = {
      {"cpu_seconds", ps->cpu_seconds},     {"threads", ps->threads},
      {"start_time_seconds", ps->start_time_seconds}, {"virtual_bytes", ps->virtual_bytes},
      {"resident_bytes", ps->resident_bytes}, {"open_fds", ps->open_fds}};
  lua_newtable(L);
  for (const auto& [k, v] : fields) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
  }
  return 1;
}

int bpfexNow(lua_State* L) {
  RuleCore* r = core(L);
  lua_pushnumber(L, r->ctx ? r->ctx->now_unix : base::unixSeconds());
  return 1;
}

}  // namespace

void openBpfexApi(Binder& b) {
  b.functions("bpfex", {{"uptime", &guarded<&bpfexUptime>}, {"now", &guarded<&bpfexNow>},
                        {"clock", &guarded<&bpfexClock>}, {"duration", &guarded<&bpfexDuration>},
                        {"restarts", &guarded<&bpfexRestarts>}, {"process", &guarded<&bpfexProcess>}});
}

}  // namespace bpfex::lua
