-- expect: errors runtime,timeout
local g = metric.gauge("hostile_g", "x")
local function h(e) error(e) end
local function f() xpcall(f, h) end
on_tick(function() g:set({}, 1); f(); error("still here") end)
