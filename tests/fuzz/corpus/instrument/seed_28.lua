-- expect: errors runtime
local g = metric.gauge("hostile_g", "x")
local function cmp(a, b) table.sort({ 3, 2, 1, 5, 4 }, cmp); return a < b end
on_tick(function() g:set({}, 1); table.sort({ 3, 2, 1 }, cmp) end)
