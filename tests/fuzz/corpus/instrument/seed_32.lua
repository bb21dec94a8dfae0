-- expect: errors memory
local g = metric.gauge("hostile_g", "x")
on_tick(function()
  g:set({}, 1)
  local t = {}
  while true do t[#t + 1] = string.rep("x", 1000) .. #t end
end)
