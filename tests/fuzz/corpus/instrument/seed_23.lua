-- expect: errors metric,runtime
-- Label tables are read raw: their metamethods never run inside a binding.
local g = metric.gauge("hostile_g", "x", { "k" })
local evil = setmetatable({}, { __index = function() g:set({ "inner" }, 1); return "v" end })
on_tick(function() g:set(evil, 1) end)
