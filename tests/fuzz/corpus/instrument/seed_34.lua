-- expect: refused compile
local function f() return coroutine.wrap(f)() end
f()
