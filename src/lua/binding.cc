#include "lua/binding.h"

#include <algorithm>

#include "base/clock.h"

namespace bpfex::lua {

void Binder::pushClosures(std::initializer_list<Function> fns, void* state) {
  for (const auto& [n, f] : fns) {
    lua_pushlightuserdata(L_, core_);
    lua_pushlightuserdata(L_, state);
    lua_pushcclosure(L_, f, 2);
    lua_setfield(L_, -2, n);
  }
}

void Binder::functions(const char* table, std::initializer_list<Function> fns, void* state) {
  if (table == nullptr) {
    lua_pushvalue(L_, api_);
    pushClosures(fns, state);
    lua_pop(L_, 1);
    return;
  }
  lua_getfield(L_, api_, table);
  if (lua_isnil(L_, -1)) {
    lua_pop(L_, 1);
    lua_newtable(L_);
    lua_pushvalue(L_, -1);
    lua_setfield(L_, api_, table);
  }
  pushClosures(fns, state);
  lua_pop(L_, 1);
}

void Binder::handleType(const char* meta, std::initializer_list<Function> methods, lua_CFunction gc, void* state) {
  luaL_newmetatable(L_, meta);
  lua_newtable(L_);
  pushClosures(methods, state);
  lua_setfield(L_, -2, "__index");
  lua_pushboolean(L_, 0);
  lua_setfield(L_, -2, "__metatable");
  if (gc != nullptr) {
    lua_pushlightuserdata(L_, core_);
    lua_pushlightuserdata(L_, state);
    lua_pushcclosure(L_, gc, 2);
    lua_setfield(L_, -2, "__gc");
  }
  lua_pop(L_, 1);
}

void Binder::setField(const char* name) { lua_setfield(L_, api_, name); }

size_t checkWhole(lua_State* L, int idx, const char* what, double max) {
  const double d = luaL_checknumber(L, idx);
  if (!wholeNumber(d, max)) luaL_error(L, "%s must be a whole number from 0 to %.0f", what, max);
  return static_cast<size_t>(d);
}

void rawField(lua_State* L, int idx, const char* name) {
  if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
  lua_pushstring(L, name);
  lua_rawget(L, idx);
}

namespace {

// The array part of the table at idx, each element of Lua type `type` read
// with `get`; nil gives an empty list.
template <class T, class Get>
std::vector<T> listOf(lua_State* L, int idx, const char* what, int type, const char* type_name, Get get) {
  std::vector<T> v;
  if (lua_isnoneornil(L, idx)) return v;
  luaL_checktype(L, idx, LUA_TTABLE);
  const size_t n = lua_objlen(L, idx);
  for (size_t i = 1; i <= n; ++i) {
    lua_rawgeti(L, idx, static_cast<int>(i));
    if (lua_type(L, -1) != type) luaL_error(L, "%s[%d] must be a %s", what, static_cast<int>(i), type_name);
    v.push_back(get(L));
    lua_pop(L, 1);
  }
  return v;
}

}  // namespace

std::vector<std::string> stringList(lua_State* L, int idx, const char* what) {
  return listOf<std::string>(L, idx, what, LUA_TSTRING, "string", [](lua_State* S) { return std::string(lua_tostring(S, -1)); });
}

std::vector<double> numberList(lua_State* L, int idx, const char* what) {
  return listOf<double>(L, idx, what, LUA_TNUMBER, "number", [](lua_State* S) { return lua_tonumber(S, -1); });
}

std::vector<std::pair<std::string, std::string>> stringMap(lua_State* L, int idx, const char* what) {
  std::vector<std::pair<std::string, std::string>> out;
  if (lua_isnoneornil(L, idx)) return out;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "%s: keys must be label names", what);
    const int t = lua_type(L, -1);
    if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN) luaL_error(L, "%s: values must be strings", what);
    std::string v;
    if (t == LUA_TBOOLEAN) {
      v = lua_toboolean(L, -1) ? "true" : "false";
    } else {
      lua_pushvalue(L, -1);  // a copy: lua_tostring converts numbers in place
      v = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
    out.emplace_back(lua_tostring(L, -2), v);
    lua_pop(L, 1);
  }
  std::sort(out.begin(), out.end());
  return out;
}

double durationArg(lua_State* L, int idx, const char* what) {
  if (lua_isnoneornil(L, idx)) return 0;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    const double v = lua_tonumber(L, idx);
    if (!(v >= 0) || std::isinf(v)) luaL_error(L, "%s must be a non-negative number of seconds", what);
    return v;
  }
  auto d = base::parseDuration(luaL_checkstring(L, idx));
  if (!d) luaL_error(L, "%s: %s", what, d.error().message().c_str());
  return d.value();
}

int nilAnd(lua_State* L, const std::string& why) {
  lua_pushnil(L);
  lua_pushlstring(L, why.data(), why.size());
  return 2;
}

}  // namespace bpfex::lua
