-- PromQL-style vector operations, inside the sandbox.
local ticks = metric.gauge("lua_test_ticks", "ticks this test ran")
local n = 0

local function by_labels(v, name)
  local m = {}
  for _, s in ipairs(v) do m[s.labels[name] or ""] = s.value end
  return m
end

local violations = {
  { labels = { role = "guest", action = "deny" }, value = 120 },
  { labels = { role = "guest", action = "log" }, value = 30 },
  { labels = { role = "dev", action = "deny" }, value = 45 },
  { labels = { role = "admin", action = "deny" }, value = 5 },
}
local s = by_labels(vec.sum_by(violations, { "role" }), "role")
assert(s.guest == 150 and s.dev == 45 and s.admin == 5, "sum by role")
assert(vec.count_by(violations, {})[1].value == 4, "count without by")
assert(by_labels(vec.max_by(violations, { "action" }), "action").deny == 120, "max by action")
assert(by_labels(vec.avg_by(violations, { "role" }), "role").guest == 75, "avg by role")
local top = vec.topk(vec.sum_by(violations, { "role" }), 2)
assert(#top == 2 and top[1].labels.role == "guest" and top[2].labels.role == "dev", "topk")
assert(vec.bottomk(violations, 1)[1].value == 5, "bottomk")
assert(#vec.filter(violations, ">", 40) == 2, "filter >")

-- drop ratio: rate(drops) / rate(all), matched on hook; then > 0.05
local drops = { { labels = { hook = "xdp", action = "drop" }, value = 10 }, { labels = { hook = "tc", action = "drop" }, value = 1 } }
local all = { { labels = { hook = "xdp" }, value = 100 }, { labels = { hook = "tc" }, value = 100 } }
local ratio = vec.binop(drops, "/", all, { on = { "hook" } })
local r = by_labels(ratio, "hook")
assert(r.xdp == 0.1 and r.tc == 0.01, "ratio on(hook)")
assert(#vec.filter(ratio, ">", 0.05) == 1, "threshold")
local ign = vec.binop(drops, "/", all, { ignoring = { "action" } })
assert(#ign == 2 and ign[1].labels.action == nil, "ignoring(action) drops the label")
assert(#vec.binop(all, ">", { { labels = { hook = "xdp" }, value = 50 } }) == 1, "vector comparison keeps matches")
assert(not pcall(vec.binop, drops, "/", { { labels = { hook = "xdp" }, value = 1 }, { labels = { hook = "xdp" }, value = 2 } },
  { on = { "hook" } }), "many-to-one is an error")

on_tick(function()
  n = n + 1
  ticks:set({}, n)
end)
