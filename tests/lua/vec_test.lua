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

-- histogram_quantile as Prometheus 2.42: per le group, interpolated inside
-- the bucket where the rank falls; the highest finite bound when it falls in
-- +Inf; NaN without +Inf; buckets of one le summed; ±Inf outside [0, 1].
local function bucket(le, v, path) return { labels = { le = le, path = path }, value = v } end
local h = { bucket("0.1", 10, "/a"), bucket("0.5", 30, "/a"), bucket("+Inf", 40, "/a"),
            bucket("1", 5, "/b"), bucket("+Inf", 10, "/b"), bucket("1", 0, "/c") }
local hq = by_labels(vec.histogram_quantile(0.5, h), "path")
assert(hq["/a"] == 0.1 + (0.5 - 0.1) * (10 / 20), "median of /a: " .. tostring(hq["/a"]))
assert(hq["/b"] == 1.0, "median of /b lands exactly on the 1 bucket's count")
assert(hq["/c"] ~= hq["/c"], "no +Inf bucket: NaN")
assert(by_labels(vec.histogram_quantile(0.99, h), "path")["/a"] == 0.5, "rank in +Inf: the highest finite bound")
assert(by_labels(vec.histogram_quantile(2, h), "path")["/a"] == math.huge, "q > 1")
local split = { bucket("1", 2, "/d"), bucket("1", 2, "/d"), bucket("+Inf", 8, "/d") }
assert(by_labels(vec.histogram_quantile(0.5, split), "path")["/d"] == 1, "one le's buckets are summed")
-- Durations in the config's syntax.
assert(bpfex.duration("1d") == 86400 and bpfex.duration("250ms") == 0.25 and bpfex.duration(30) == 30)
assert(not pcall(bpfex.duration, "5 parsecs"), "a bad duration is an error")

on_tick(function()
  n = n + 1
  ticks:set({}, n)
end)
