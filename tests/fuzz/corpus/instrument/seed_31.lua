-- expect: errors memory,runtime
-- (A count of 2^31 wraps to a negative int inside LuaJIT and gives ""; 2^29
-- pairs is a real gigabyte.)
local g = metric.gauge("hostile_g", "x")
on_tick(function() g:set({}, 1); local s = string.rep("xy", 2 ^ 29) end)
