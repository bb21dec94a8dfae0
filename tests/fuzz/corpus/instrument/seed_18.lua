-- expect: contained
local ok = metric.gauge("hostile_contained", "x")
on_tick(function()
  assert(not pcall(json.decode, string.rep("[", 200000) .. string.rep("]", 200000)))
  ok:set({}, 1)
end)
