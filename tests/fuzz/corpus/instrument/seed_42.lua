-- expect: contained
-- A new window every run: the old ones are collected (they used to be kept
-- for the life of the rule, in memory nobody counted).
local ok = metric.gauge("hostile_contained", "x")
on_tick(function()
  local w = window("1h")
  for i = 1, 2000 do w:rate("key" .. i, i) end
  collectgarbage("count")
  ok:set({}, 1)
end)
