// bpfex's pattern matcher against LuaJIT's own string.find/match/gmatch/gsub,
// which nobody here wrote: random patterns from the whole pattern syntax,
// random subjects, every function, compared result for result (errors: both
// or neither). A fixed seed in CI; BPFEX_PATTERN_SEED=N replays another, and
// a failure prints the seed and the case.
#include "lua/pattern.h"

#include <gtest/gtest.h>
#include <lua.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace bpfex::lua {
namespace {

pattern::Limits g_limits;

template <int (*F)(lua_State*, const pattern::Limits&)>
int wrap(lua_State* L) {
  std::string err;
  try {
    return F(L, g_limits);
  } catch (const std::exception& e) {
    err = e.what();
  }
  lua_pushstring(L, err.c_str());
  return lua_error(L);
}
int wrapGmatch(lua_State* L) { return pattern::gmatch(L, &g_limits); }

constexpr const char* kDifferential = R"LUA(
local seed, cases = ...
math.randomseed(seed)
local R = math.random
local atoms = { "a", "b", "c", " ", "(", ")", "1", ".", "%a", "%d", "%s", "%w", "%p", "%A", "%S", "%l", "%u", "%x",
  "%z", "%%", "%.", "%(", "[ab]", "[^a]", "[a-c]", "[%d_]", "[]]", "[^%s]", "%bab", "%b()", "%f[%w]", "%f[%s]",
  "$", "^", "-", "]", "[", "%", "%1", "%2", "%g" }
local quants = { "", "", "", "*", "+", "-", "?" }
local function pattern()
  local p, open = {}, 0
  if R(4) == 1 then p[#p + 1] = "^" end
  for _ = 1, R(0, 6) do
    local r = R(12)
    if r == 1 then p[#p + 1] = "("; open = open + 1
    elseif r == 2 and open > 0 then p[#p + 1] = ")"; open = open - 1
    elseif r == 3 then p[#p + 1] = "()"
    else p[#p + 1] = atoms[R(#atoms)] .. quants[R(#quants)] end
  end
  if R(5) ~= 1 then for _ = 1, open do p[#p + 1] = ")" end end
  if R(5) == 1 then p[#p + 1] = "$" end
  return table.concat(p)
end
local chars = { "a", "b", "c", " ", "(", ")", "1", "2", "_", ".", "\0", "%" }
local function subject()
  local s = {}
  for i = 1, R(0, 12) do s[i] = chars[R(#chars)] end
  return table.concat(s)
end
local function pack(ok, ...) return { ok = ok, n = select("#", ...), ... } end
local function same(a, b)
  if a.ok ~= b.ok then return false end
  if not a.ok then return true end  -- both raised an error
  if a.n ~= b.n then return false end
  for i = 1, a.n do
    if a[i] ~= b[i] then return false end
  end
  return true
end
local function show(r)
  local t = {}
  for i = 1, r.n do t[i] = string.format("%q", tostring(r[i])) end
  return (r.ok and "ok " or "error ") .. table.concat(t, ", ")
end
local function collect(gm, s, p)
  return function()
    local out = {}
    local n = 0
    for a, b in gm(s, p) do
      n = n + 1
      out[#out + 1] = tostring(a) .. "|" .. tostring(b)
      if n > 100 then break end
    end
    return table.concat(out, ";")
  end
end
local repls = {
  function() return "<%0>" end, function() return "%1-%%" end, function() return "x" end, function() return 7 end,
  function() return function(a, b) if a == "a" then return nil end return (a or "") .. "!" .. tostring(b) end end,
  function() return { a = "A", b = false, [" "] = "_" } end,
}
local checked = 0
for i = 1, cases do
  local s, p = subject(), pattern()
  local init = R(-14, 14)
  local ri = R(#repls)
  local max_n = R(0, 4) == 0 and R(0, 3) or nil
  local checks = {
    { "find", function(f) return f(s, p, init) end, string.find, my_find },
    { "find plain", function(f) return f(s, p, init, true) end, string.find, my_find },
    { "match", function(f) return f(s, p, init) end, string.match, my_match },
    { "gmatch", function(f) return collect(f, s, p)() end, string.gmatch, my_gmatch },
    { "gsub", function(f) return f(s, p, repls[ri](), max_n) end, string.gsub, my_gsub },
  }
  for _, c in ipairs(checks) do
    local want = pack(pcall(c[2], c[3]))
    local got = pack(pcall(c[2], c[4]))
    checked = checked + 1
    if not same(want, got) then
      error(string.format("seed %d case %d: %s(%q, %q, init %d, repl %d)\n  LuaJIT: %s\n  bpfex:  %s",
        seed, i, c[1], s, p, init, ri, show(want), show(got)), 0)
    end
  end
end
return checked
)LUA";

TEST(Pattern, AgreesWithLuaJitOnRandomPatterns) {
  const char* env = std::getenv("BPFEX_PATTERN_SEED");
  const long seed = env ? std::atol(env) : 20261124;
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  lua_register(L, "my_find", &wrap<&pattern::find>);
  lua_register(L, "my_match", &wrap<&pattern::match>);
  lua_register(L, "my_gmatch", &wrapGmatch);
  lua_register(L, "my_gsub", &wrap<&pattern::gsub>);
  ASSERT_EQ(luaL_loadstring(L, kDifferential), 0) << lua_tostring(L, -1);
  lua_pushinteger(L, seed);
  lua_pushinteger(L, 20000);
  const int rc = lua_pcall(L, 2, 1, 0);
  EXPECT_EQ(rc, 0) << lua_tostring(L, -1) << "\n(replay: BPFEX_PATTERN_SEED=" << seed << ")";
  if (rc == 0) {
    EXPECT_EQ(lua_tointeger(L, -1), 100000);
  }
  lua_close(L);
}

TEST(Pattern, APathologicalPatternStopsWhenTheBudgetFires) {
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  volatile uint32_t flag = 1;  // already expired
  g_limits.abort = &flag;
  lua_register(L, "my_find", &wrap<&pattern::find>);
  ASSERT_EQ(luaL_dostring(L, "return my_find(string.rep('a', 40), string.rep('a*', 20) .. 'b')"), 1);
  EXPECT_STREQ(lua_tostring(L, -1), "time budget exceeded");
  g_limits.abort = nullptr;
  lua_close(L);
}

TEST(Pattern, GsubStaysWithinItsResultLimit) {
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  g_limits.max_result_bytes = 1000;
  lua_register(L, "my_gsub", &wrap<&pattern::gsub>);
  ASSERT_EQ(luaL_dostring(L, "return my_gsub(string.rep('a', 100), 'a', string.rep('x', 100))"), 1);
  EXPECT_NE(std::string(lua_tostring(L, -1)).find("not enough memory"), std::string::npos);
  g_limits.max_result_bytes = SIZE_MAX;
  lua_close(L);
}

}  // namespace
}  // namespace bpfex::lua
