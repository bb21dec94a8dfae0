-- expect: errors runtime
-- __lt runs from inside table.sort's C frame, and sorts again.
local g = metric.gauge("hostile_g", "x")
local mt = {}
mt.__lt = function(a, b) table.sort({ setmetatable({}, mt), setmetatable({}, mt) }); return false end
on_tick(function() g:set({}, 1); table.sort({ setmetatable({}, mt), setmetatable({}, mt) }) end)
