-- expect: errors memory,timeout
-- gsub's result is built outside the Lua heap: it is held to the rule's cap.
local g = metric.gauge("hostile_g", "x")
local big = string.rep("x", 2 ^ 20)
on_tick(function() g:set({}, 1); local s = string.rep("a", 200):gsub("a", big) end)
