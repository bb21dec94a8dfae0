-- expect: errors timeout
-- Exponential backtracking: LuaJIT's matcher runs this for hours inside one C
-- call, where no hook fires. Rules get bpfex's matcher, which polls the budget.
local g = metric.gauge("hostile_g", "x")
on_tick(function() g:set({}, 1); string.find(string.rep("a", 40), string.rep("a*", 20) .. "b") end)
