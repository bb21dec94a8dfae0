-- Example: a per-CPU log2 latency histogram kept as bpf/include/bpfex_log2.h
-- does (slot k counts (2^(k-1), 2^k] ns, zeros apart, the exact sum kept)
-- turned into a Prometheus histogram and a summary with p50/p95/p99.
local BOUNDS = hist.log2_bounds(8, 1e-9)           -- le = 2^k ns, in seconds
local h = metric.histogram("example_latency_seconds", "Processing latency", { "hook" }, BOUNDS)
local s = metric.summary("example_latency_quantiles_seconds", "Processing latency quantiles", { "hook" },
  { 0.5, 0.95, 0.99 })
local lat = bpf.map("demo/latency")

on_tick(function()
  for key, value in lat:entries() do
    local counts, sum = hist.from_log2(value.slots, value.sum_ns / 1e9, value.zero)
    h:set_buckets({ key.hook }, counts, sum)
    local total = 0
    for i = 1, #counts do total = total + counts[i] end
    s:set({ key.hook }, {
      hist.quantile(0.5, counts, BOUNDS), hist.quantile(0.95, counts, BOUNDS), hist.quantile(0.99, counts, BOUNDS),
    }, sum, total)
  end
end)
