-- expect: errors runtime
local g = metric.gauge("hostile_g", "x")
on_tick(function() g:set({}, 1); coroutine.yield(1) end)
