-- expect: refused timeout
-- A tree of pcalls: each level catches the budget error of the one below.
local function f() pcall(f); pcall(f) end
f()
