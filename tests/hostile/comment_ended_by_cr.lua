-- expect: errors timeout
-- LuaJIT ends a short comment at a bare carriage return, as at a newline:
-- the loop after it is code, and the budget must see it as code too.
local g = metric.gauge("hostile_cr", "x")
on_tick(function() g:set({}, 1) -- cwhile true do end
end)
