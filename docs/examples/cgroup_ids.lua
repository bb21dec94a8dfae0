-- Example: 64-bit keys as labels. A cgroup id or socket cookie beyond 2^53
-- reaches the label digit for digit (views give it as a string of digits);
-- the counter's value is a float64 sample, as Prometheus stores it.
local bytes = metric.counter("example_cgroup_bytes_total", "Bytes per cgroup", { "cgroup_id", "delta" })
local m = bpf.map("demo/cgroup_bytes")

on_tick(function()
  for key, value in m:entries() do
    bytes:set({ key.cgroup_id, key.delta }, value.bytes)
  end
end)
