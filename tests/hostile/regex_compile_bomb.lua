-- expect: contained
-- Nested counted repetitions: glibc's regcomp expanded this one past 1 GB
-- and stalled the engine. RE2 refuses it at once, by its program's size.
local ok = metric.gauge("hostile_contained", "x")
on_tick(function()
  local good, err = pcall(re.match, "aaaa", "(((a{1,200}){1,200}){1,200})")
  assert(not good and tostring(err):find("bad regex"), tostring(err))
  local good2 = pcall(re.match, "aaaa", "((((((((((a*)*)*)*)*)*)*)*)*)*)b")
  assert(good2)  -- compiles, and matching stays linear
  assert(not re.match(string.rep("a", 100000), "(a|aa)*b"))
  ok:set({}, 1)
end)
