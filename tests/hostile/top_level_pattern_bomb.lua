-- expect: refused timeout
-- The same at the top level, through a string method and gmatch: bpfex check
-- used to hang here.
for _ in (string.rep("a", 40)):gmatch(string.rep("a-", 20) .. "b") do end
