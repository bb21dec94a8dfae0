-- expect: contained
-- state.write used to copy and serialise the whole table before checking
-- its 1 MiB limit: one 1 MiB string listed 1,500 times, or a tree whose 24
-- levels share one node (2^24 leaves), took GBs and seconds. Both are
-- refused at the limit now, as they are read.
local ok = metric.gauge("hostile_contained", "x")
on_tick(function()
  local big = string.rep("x", 1024 * 1024)
  local list = {}
  for i = 1, 1500 do list[i] = big end
  local good, err = pcall(state.write, "bomb", { list = list })
  assert(not good and tostring(err):find("over"), tostring(err))
  local node = { 1 }
  for _ = 1, 24 do node = { node, node } end
  good, err = pcall(state.write, "bomb", node)
  assert(not good and tostring(err):find("over"), tostring(err))
  ok:set({}, 1)
end)
