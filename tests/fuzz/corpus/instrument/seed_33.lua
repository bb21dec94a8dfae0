-- expect: errors timeout
-- A tree of pcalls catches every budget error and returns normally: the run
-- is over budget all the same.
local g = metric.gauge("hostile_g", "x")
local function f() pcall(f); pcall(f) end
on_tick(function() g:set({}, 1); f() end)
