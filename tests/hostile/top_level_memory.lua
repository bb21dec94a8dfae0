-- expect: refused memory
-- 16 MiB a step: the 64 MiB cap is reached in a handful of steps, long
-- before the time budget, however loaded the machine.
local t, big = {}, string.rep("x", 2 ^ 24)
for i = 1, 1e9 do t[i] = big .. i end
