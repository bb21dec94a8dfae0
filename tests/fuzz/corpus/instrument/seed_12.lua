-- expect: errors runtime,memory
local g = metric.gauge("hostile_g", "x")
local function f(n) return 1 + f(n + 1) end
on_tick(function() g:set({}, 1); f(1) end)
