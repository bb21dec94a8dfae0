-- expect: contained
-- Strings share one metatable with the trusted library: a rule must not be
-- able to reach it, nor change what the library's string functions do.
local ok = metric.gauge("hostile_contained", "x")
assert(getmetatable("") == false, "the string metatable is visible")
assert(not pcall(function() getmetatable("").__index.format = function() error("pwned") end end))
assert(("").dump == nil, "string.dump is reachable through string methods")
assert(("x").rep ~= nil)
-- The rule's own string table is its own: changing it changes nothing else.
string.gsub = function() error("pwned gsub") end
string.format = function() error("pwned format") end
string.rep = function() error("pwned rep") end
table.concat = function() error("pwned concat") end
table.sort = function() error("pwned sort") end
on_tick(function()
  assert(("a"):gsub("a", "b") == "b", "string methods follow the rule's table")
  assert(("%d"):format(7) == "7")
  -- The trusted library still works: it captured its functions before us.
  local v = vec.topk({ { labels = { a = "1" }, value = 1 }, { labels = { a = "2" }, value = 2 } }, 1)
  assert(v[1].value == 2)
  local s = vec.sum_by({ { labels = { a = "1" }, value = 1 }, { labels = { a = "1" }, value = 2 } }, { "a" })
  assert(s[1].value == 3)
  local okb, err = pcall(vec.binop, { { labels = { a = "1" }, value = 1 } }, "+",
    { { labels = { a = "1" }, value = 1 }, { labels = { a = "1" }, value = 2 } })
  assert(not okb and tostring(err):find("several samples"), tostring(err))
  ok:set({}, 1)
end)
