#include "lua/json_value.h"

#include <lua.hpp>

#include <cmath>
#include <stdexcept>
#include <string>

#include "lua/binding.h"

namespace bpfex::lua {

void pushJson(lua_State* L, const nlohmann::json& j, int depth) {
  if (depth > 100) luaL_error(L, "json.decode: nesting deeper than 100");
  luaL_checkstack(L, 4, "json");
  switch (j.type()) {
    case nlohmann::json::value_t::object:
      lua_createtable(L, 0, static_cast<int>(j.size()));
      for (const auto& [k, v] : j.items()) {
        pushJson(L, v, depth + 1);
        lua_setfield(L, -2, k.c_str());
      }
      break;
    case nlohmann::json::value_t::array: {
      lua_createtable(L, static_cast<int>(j.size()), 0);
      int i = 1;
      for (const auto& v : j) {
        pushJson(L, v, depth + 1);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case nlohmann::json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case nlohmann::json::value_t::boolean: lua_pushboolean(L, j.get<bool>()); break;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: lua_pushnumber(L, j.get<double>()); break;
    default: lua_pushnil(L);
  }
}

namespace {

void charge(lua_State* L, JsonLimits& limits, size_t bytes, const char* fn) {
  limits.used += bytes;
  if (limits.used > limits.max_bytes)
    luaL_error(L, "%s: over %d bytes", fn, static_cast<int>(limits.max_bytes));
  if (limits.abort != nullptr && *limits.abort != 0) throw std::runtime_error("time budget exceeded");
}

}  // namespace

nlohmann::json toJson(lua_State* L, int idx, const char* fn, JsonLimits& limits, int depth) {
  if (depth > 32) luaL_error(L, "%s: nesting deeper than 32", fn);
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER: {
      charge(L, limits, 8, fn);
      const double d = lua_tonumber(L, idx);
      // Whole numbers as integers (counts read back as 2, not 2.0).
      if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9007199254740992.0) return static_cast<int64_t>(d);
      return d;
    }
    case LUA_TBOOLEAN: charge(L, limits, 8, fn); return lua_toboolean(L, idx) != 0;
    case LUA_TSTRING: {
      size_t len = 0;
      const char* s = lua_tolstring(L, idx, &len);
      charge(L, limits, len + 2, fn);
      return std::string(s, len);
    }
    case LUA_TTABLE: {
      charge(L, limits, 8, fn);
      nlohmann::json j = nlohmann::json::object();
      const size_t n = lua_objlen(L, idx);
      if (n > 0) j = nlohmann::json::array();
      luaL_checkstack(L, 3, fn);
      lua_pushnil(L);
      while (lua_next(L, idx) != 0) {
        const int top = lua_gettop(L);
        if (n > 0) {
          if (lua_type(L, -2) != LUA_TNUMBER) luaL_error(L, "%s: a table mixes list and record keys", fn);
          const double key = lua_tonumber(L, -2);
          if (!wholeNumber(key, static_cast<double>(n)) || key < 1) luaL_error(L, "%s: a list with holes", fn);
          const auto i = static_cast<size_t>(key);
          if (j.size() < i) j.get_ref<nlohmann::json::array_t&>().resize(i);
          j[i - 1] = toJson(L, top, fn, limits, depth + 1);
        } else {
          if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "%s: record keys must be strings", fn);
          size_t klen = 0;
          const char* k = lua_tolstring(L, -2, &klen);
          charge(L, limits, klen + 3, fn);
          j[std::string(k, klen)] = toJson(L, top, fn, limits, depth + 1);
        }
        lua_pop(L, 1);
      }
      return j;
    }
    default: luaL_error(L, "%s: cannot store a %s", fn, luaL_typename(L, idx)); return {};
  }
}

}  // namespace bpfex::lua
