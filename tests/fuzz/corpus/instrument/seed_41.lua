-- expect: errors memory,timeout
-- A window's keys live in C++ memory: they count against the rule's cap.
local g = metric.gauge("hostile_g", "x")
local w = window("1h")
local n = 0
on_tick(function()
  g:set({}, 1)
  while true do n = n + 1; w:rate(string.rep("k", 200) .. n, n) end
end)
