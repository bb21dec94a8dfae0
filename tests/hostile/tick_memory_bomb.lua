-- expect: errors memory
local g = metric.gauge("hostile_g", "x")
local big = string.rep("x", 2 ^ 22)
on_tick(function()
  g:set({}, 1)
  local t = {}
  while true do t[#t + 1] = big .. #t end
end)
