-- expect: contained
-- 200k empty objects in one array: nlohmann's callback parser rescanned the
-- array after each element (quadratic: hours for 12 MB). One pass now,
-- within the budget; what it builds is charged to the rule's memory cap.
local ok = metric.gauge("hostile_contained", "x")
on_tick(function()
  local t = json.decode("[" .. string.rep("{},", 199999) .. "{}]")
  assert(#t == 200000)
  local deep = pcall(json.decode, string.rep("[", 102) .. string.rep("]", 102))
  assert(not deep)
  local fine = json.decode(string.rep("[", 101) .. string.rep("]", 101))
  assert(type(fine) == "table")
  ok:set({}, 1)
end)
