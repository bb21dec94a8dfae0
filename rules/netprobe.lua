-- NetProbe (seed 004): per-interface TC traffic by direction, per-second
-- rates, interface activity, and the exporter's own health, from the bundled
-- iface_traffic program (TC ingress and egress hooks).
--
-- Parameters (config rule_params):
--   netprobe_netns        network namespace of the interfaces (default: bpfex's own)
--   netprobe_interfaces   regex of interface names to export (default: all)
--   netprobe_active_only  "true": export only interfaces with traffic in the rate window
--   netprobe_rate_window  window of the per-second rates (default 30s)
--
-- "Active" means: the interface's packet counters grew within the rate window.
local NETNS = params.netprobe_netns
local FILTER = params.netprobe_interfaces or ".*"
local ACTIVE_ONLY = params.netprobe_active_only == "true"

local L3 = { "interface", "ifindex", "direction" }
local packets = metric.counter("netprobe_tc_packets_total", "Total number of packets processed by TC", L3)
local bytes = metric.counter("netprobe_tc_bytes_total", "Total number of bytes processed by TC", L3)
local pps = metric.gauge("netprobe_tc_packets_per_second", "Rate of packets per second processed by TC", L3)
local bps = metric.gauge("netprobe_tc_bytes_per_second", "Rate of bytes per second processed by TC", L3)
local active = metric.gauge("netprobe_interface_active",
  "Whether the network interface is currently active", { "interface", "ifindex" })
local up = metric.gauge("netprobe_up", "Whether the netprobe exporter is up")
local collections = metric.counter("netprobe_collection_total", "Total number of collections")
local last = metric.gauge{ name = "netprobe_last_collection_timestamp_seconds",
  help = "Unix time of the last collection", unit = "seconds" }

local pkt_rates = window(params.netprobe_rate_window or "30s")
local byte_rates = window(params.netprobe_rate_window or "30s")
local traffic = bpf.map("traffic/bpfex_iface_stats")
local DIRECTION = { BPFEX_HOOK_TC_INGRESS = "ingress", BPFEX_HOOK_TC_EGRESS = "egress" }

local function collect()
  local rows, busy = {}, {}
  for k, v in traffic:entries() do
    local dir = DIRECTION[k.hook]
    if dir then
      local ifindex = k.ifindex
      local name = host.ifname(ifindex, NETNS) or ("if" .. ifindex)
      if labels.keep(name, FILTER) then
        local key = name .. "/" .. dir
        local pr = pkt_rates:rate(key, v.packets)
        local br = byte_rates:rate(key, v.bytes)
        if pkt_rates:increase(key, v.packets) ~= nil and pr > 0 then busy[name] = true end
        rows[#rows + 1] = { name, ifindex, dir, v.packets, v.bytes, pr, br }
      end
    end
  end
  for _, r in ipairs(rows) do
    local name, ifindex = r[1], r[2]
    if not ACTIVE_ONLY or busy[name] then
      local l = { name, ifindex, r[3] }
      packets:set(l, r[4])
      bytes:set(l, r[5])
      if r[6] then pps:set(l, r[6]) end
      if r[7] then bps:set(l, r[7]) end
      active:set({ name, ifindex }, busy[name] and 1 or 0)
    end
  end
end

on_tick(function(t)
  -- add, not a Lua count: the counter keeps its series across reloads (the
  -- family is declared identically), where a local would start from 0.
  collections:add({}, 1)
  last:set({}, t.now)
  local ok, err = pcall(collect)
  up:set({}, ok and 1 or 0)
  if not ok then log("collection failed: " .. tostring(err)) end
end)
