#include "lua/rule_core.h"

#include <lua.hpp>

#include <cstdlib>

namespace bpfex::lua {

void* RuleCore::allocate(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* r = static_cast<RuleCore*>(ud);
  if (nsize == 0) {
    if (ptr != nullptr) r->mem_used -= osize;
    std::free(ptr);
    return nullptr;
  }
  const size_t old = ptr != nullptr ? osize : 0;
  if (r->mem_limited && nsize > old && r->mem_used - old + nsize > r->limits.memory_bytes) return nullptr;
  void* p = std::realloc(ptr, nsize);
  if (p != nullptr) r->mem_used = r->mem_used - old + nsize;
  return p;
}

size_t RuleCore::roomLeft() const {
  if (!mem_limited) return SIZE_MAX;
  const size_t used = mem_used + window_bytes + fired_bytes;
  return used < limits.memory_bytes ? limits.memory_bytes - used : 0;
}

std::string RuleCore::fullChunkNames(std::string msg) const {
  // LuaJIT shortens a long "@file" chunk name to "..." and its last
  // LUA_IDSIZE - 4 bytes in messages and tracebacks; operators need the
  // whole path.
  constexpr size_t kIdSize = 60;  // LUA_IDSIZE in LuaJIT 2.1
  if (name.size() <= kIdSize - 1) return msg;
  const std::string shortened = "..." + name.substr(name.size() - (kIdSize - 4));
  for (size_t at = msg.find(shortened); at != std::string::npos; at = msg.find(shortened, at + name.size()))
    msg.replace(at, shortened.size(), name);
  return msg;
}

std::string RuleCore::where(lua_State* L, int level) const {
  lua_Debug ar;
  if (lua_getstack(L, level, &ar) != 0 && lua_getinfo(L, "Sl", &ar) != 0 && ar.currentline > 0)
    return fullChunkNames(std::string(ar.short_src)) + ":" + std::to_string(ar.currentline);
  return name;
}

int RuleCore::callerLine(lua_State* L, int level) {
  lua_Debug ar;
  return lua_getstack(L, level, &ar) != 0 && lua_getinfo(L, "l", &ar) != 0 ? ar.currentline : 0;
}

void RuleCore::requireTick(lua_State* L, const char* what) const {
  if (!in_tick || ctx == nullptr) luaL_error(L, "%s: call it in on_tick functions", what);
}

void RuleCore::requireTopLevel(lua_State* L, const char* what) const {
  if (in_tick) luaL_error(L, "%s are declared at the top level of a rule, not in on_tick", what);
}

void RuleCore::checkDeclarationCap(lua_State* L, size_t have, const char* kind) {
  if (have < limits.max_families) return;
  limit_hit = true;
  luaL_error(L, "more than %d %s in one rule (rule_limits.max_families)", static_cast<int>(limits.max_families), kind);
}

int traceback(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

void abortHook(lua_State* L, lua_Debug*) { luaL_error(L, "time budget exceeded"); }

extern "C" int bpfexBudgetExpired(const uint32_t* flag) {
  return static_cast<int>(__atomic_load_n(flag, __ATOMIC_RELAXED));
}

}  // namespace bpfex::lua
