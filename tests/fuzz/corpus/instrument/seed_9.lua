-- expect: errors runtime
-- Each wrap nests a resume on the C stack: this crashed the daemon (SIGSEGV).
local g = metric.gauge("hostile_g", "x")
local function f() return coroutine.wrap(f)() end
on_tick(function() g:set({}, 1); f() end)
