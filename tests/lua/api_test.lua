-- The Lua API, exercised inside the real sandbox against a fake map
-- "t/flows" (key: u32 ifindex, enum-like char[8] proto; value: u64 packets,
-- u64 bytes, u64 slots[4]) that the harness serves.
local ticks = metric.gauge("lua_test_ticks", "ticks this test ran")
local pkts = metric.counter("api_packets_total", "packets", {"ifindex", "proto"})
local lat = metric.histogram("api_latency_seconds", "latency", {}, {0.001, 0.01, 0.1})
local sum = metric.summary("api_latency_q_seconds", "latency quantiles", {}, {0.5, 0.99})
local info = metric.info{name = "api_build_info", help = "build", labels = {"version"}}
local by_name = metric.gauge{name = "api_by_name", help = "labels by name", labels = {"a", "b"}}
local rate = metric.gauge("api_rate", "rate over 3s", {"ifindex"})
local w = window("3s")
local flows = bpf.map("t/flows")
local n = 0

-- Label helpers.
local cap = labels.cap(2, "overflow")
assert(cap("a") == "a" and cap("b") == "b" and cap("c") == "overflow" and cap("a") == "a")
local m = labels.map({[6] = "tcp", [17] = "udp"}, "other")
assert(m(6) == "tcp" and m(1) == "other")
assert(labels.keep("eth0", "eth[0-9]+") and not labels.keep("veth0", "eth[0-9]+"))
assert(labels.drop("lo", "eth.*"))
assert(re.match("wg0", "wg[0-9]") and not re.match("xwg0", "wg[0-9]"))
assert(not pcall(re.match, "x", "("), "a bad regex is an error")

-- Histogram helpers: quantile interpolation as histogram_quantile does.
local q = hist.quantile(0.5, {10, 10, 0}, {1, 2, 4})
assert(q == 1.0, "median " .. tostring(q))
assert(hist.quantile(0.75, {10, 10, 0}, {1, 2, 4}) == 1.5)
-- ceil(log2) slots: slot k is (2^(k-1), 2^k], so le = 2^k exactly.
local b = hist.log2_bounds(3, 1e-6)
assert(#b == 3 and b[1] == 1e-6 and b[2] == 2e-6 and b[3] == 4e-6)
local fb = hist.log2_floor_bounds(3)
assert(fb[1] == 1 and fb[2] == 3 and fb[3] == 7, "floor slots [2^k, 2^(k+1)) hold integers up to 2^(k+1)-1")
local counts, hsum = hist.from_log2({1, 2, 3}, 17, 4)
assert(#counts == 4 and counts[1] == 5 and counts[3] == 3 and counts[4] == 0 and hsum == 17, "zeros fall in the first bucket")
assert(not pcall(hist.from_log2, {1}), "the exact sum is required")
local lb = hist.linear_bounds(3, 0, 10)
assert(lb[1] == 10 and lb[3] == 30)
local lc, lsum = hist.from_linear({1, 0, 2}, 55)
assert(#lc == 4 and lc[3] == 2 and lsum == 55)
-- histogram_quantile's edges: rank in +Inf, empty histogram, q outside [0, 1].
assert(hist.quantile(0.99, {1, 0, 9}, {1, 2}) == 2, "rank in +Inf: the highest finite bound")
assert(hist.quantile(0.5, {0, 0, 0}, {1, 2}) ~= hist.quantile(0.5, {0, 0, 0}, {1, 2}), "no observations: NaN")
assert(hist.quantile(-1, {1}, {1}) == -1 / 0 and hist.quantile(2, {1}, {1}) == 1 / 0)
assert(hist.quantile(0.5, {4, 4, 0}, {-1, 1}) == -1, "a first bucket with a bound <= 0 returns the bound")

-- Declarations are top-level only; writes are tick-only.
assert(not pcall(pkts.set, pkts, {"1", "tcp"}, 1), "writes at the top level must fail")

on_tick(function(t)
  n = n + 1
  local seen = 0
  for k, v in flows:entries() do
    seen = seen + 1
    assert(type(k.ifindex) == "number" and type(v.packets) == "number")
    assert(k.proto == "tcp" or k.proto == "udp")
    pkts:set({k.ifindex, k.proto}, v.packets)
    assert(#v.slots == 4 and v.slots[1] >= 0 and v.slots[5] == nil)
    assert(not pcall(function() return k.nope end), "unknown fields are errors")
    assert(not pcall(function() k.ifindex = 1 end), "entries are read-only")
    local r = w:rate(tostring(k.ifindex), v.packets)
    if r then rate:set({k.ifindex}, r) end
  end
  assert(seen == 2, "entries: " .. seen)
  assert(flows:count() == 2 and flows:info().max_entries == 64)
  local hit = flows:lookup({ifindex = 2, proto = "tcp"})
  assert(hit and hit.packets == 100 and hit.bytes == 6400 and hit.slots[4] == 9, "lookup of a present key")
  assert(flows:lookup({ifindex = 2, proto = "udp"}) == nil, "lookup of an absent key")
  assert(not pcall(flows.lookup, flows, {ifindex = 2}), "a missing key field is an error")
  lat:observe({}, 0.005)
  sum:set({}, {0.002, 0.05}, 1.5, 10)
  info:set({"1.2.3"})
  by_name:set({b = "y", a = "x"}, 7)
  -- A rejected write is counted, and the rule goes on.
  pkts:set({"9", "tcp"}, -1)
  ticks:set({}, n)
end)
