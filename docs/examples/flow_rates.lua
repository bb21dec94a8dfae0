-- Example: per-flow packet rates from a map keyed by (ifindex, proto), with
-- protocol numbers named, interfaces filtered, and the label capped.
local pps = metric.gauge("example_flow_packets_per_second", "Packets per second per interface and protocol",
  { "interface", "proto" })
local total = metric.counter("example_flow_packets_total", "Packets per interface and protocol",
  { "interface", "proto" })
local rates = window("30s")
local proto_name = labels.map({ [6] = "tcp", [17] = "udp", [1] = "icmp" }, "other")
local capped = labels.cap(10, "other")              -- at most 10 interfaces, the rest as "other"
local flows = bpf.map("flows/flow_stats")

on_tick(function()
  for key, value in flows:entries() do
    local ifname = host.ifname(key.ifindex) or ("if" .. key.ifindex)
    if labels.drop(ifname, "lo|docker.*") then
      local l = { capped(ifname), proto_name(key.proto) }
      total:set(l, value.packets)
      local r = rates:irate(ifname .. "/" .. key.proto, value.packets)  -- PromQL irate: the last two samples
      if r then pps:set(l, r) end
    end
  end
end)
