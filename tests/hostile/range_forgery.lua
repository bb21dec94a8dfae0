-- expect: contained
-- Range selectors: a handle is userdata that only this rule's range() makes;
-- anything else passed where a range goes is refused, never read as one.
-- Declaring one inside a tick, over a bad name or a huge range, fails there.
local ok = metric.gauge("hostile_contained", "x")
local r = range("hostile_contained", "1m")
local w = window("1m")
assert(type(r) == "userdata" and getmetatable(r) == false, "a range is a sealed handle")
assert(not pcall(range, "no such name!", "1m"))
assert(not pcall(range, "x", "400d"))
assert(not pcall(range, "x", "-1s"))
for _, forged in ipairs({ {}, w, ok, "hostile_contained", 7 }) do
  assert(not pcall(vec.rate, forged), "a forged range is read")
  assert(not pcall(vec.predict_linear, forged, 10))
end
assert(not pcall(vec.rate, r), "a range is read outside a tick")
on_tick(function()
  assert(not pcall(range, "hostile_contained", "1m"), "a range is declared in a tick")
  assert(type(vec.rate(r)) == "table")
  assert(not pcall(vec.quantile_over_time, "q", r))
  assert(not pcall(vec.rate, r, { 1, 2 }), "a match that is not {label = value} is taken")
  ok:set({}, 1)
end)
