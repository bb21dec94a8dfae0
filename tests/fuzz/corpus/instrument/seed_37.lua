-- expect: refused memory
local t, mib = {}, string.rep("x", 2 ^ 20)
for i = 1, 1e9 do t[i] = mib .. i end
