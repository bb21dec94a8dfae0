-- expect: errors runtime
local g = metric.gauge("hostile_g", "x")
local function f() return ("ab"):gsub(".", f) end
on_tick(function() g:set({}, 1); ("ab"):gsub(".", f) end)
