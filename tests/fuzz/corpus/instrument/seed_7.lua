-- expect: contained
-- NaN, infinities and huge numbers where bindings want whole numbers.
local ok = metric.gauge("hostile_contained", "x")
assert(not pcall(metric.gauge, { name = "hostile_nan", help = "x", max_series = 0 / 0 }))
assert(not pcall(metric.gauge, { name = "hostile_neg", help = "x", max_series = -1 }))
on_tick(function()
  for _, v in ipairs({ 0 / 0, 1 / 0, -1 / 0, -1, 2 ^ 64, 1.5 }) do
    assert(not pcall(host.ifname, v))
  end
  ok:set({}, 1)
end)
