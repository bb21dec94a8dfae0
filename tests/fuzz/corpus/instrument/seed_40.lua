-- expect: errors runtime,memory
local g = metric.gauge("hostile_g", "x")
on_tick(function() g:set({}, 1); return select("#", unpack({}, 1, 1e8)) end)
