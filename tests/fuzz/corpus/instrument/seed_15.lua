-- expect: contained
-- __gc on tables does nothing in LuaJIT (5.1), and rules cannot make
-- userdata: a finalizer that never returns must never run.
local ok = metric.gauge("hostile_contained", "x")
assert(newproxy == nil, "newproxy is reachable")
on_tick(function()
  for i = 1, 1000 do setmetatable({}, { __gc = function() while true do end end }) end
  ok:set({}, 1)
end)
