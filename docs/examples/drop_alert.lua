-- Example: seed 000's HighPacketDropRate in Lua, evaluated inside bpfex.
--   rate(vpn_packets_total{action="drop"}[5m]) / rate(vpn_packets_total[5m]) > 0.05, for 2m
-- over a map of packet counters keyed by hook and action.
local drop_rate = alert{
  name = "HighPacketDropRate",
  ["for"] = "2m",
  keep_firing_for = "1m",
  labels = { severity = "warning" },
  annotations = {
    summary = "높은 패킷 드롭률 감지 ({{ $value | humanizePercentage }})",
    description = "{{ $labels.hook }}에서 패킷 드롭률이 5%를 초과했습니다.",
  },
}
local drops, totals = window("5m"), window("5m")
local packets = bpf.map("vpn/packets")

on_tick(function()
  local dropped, all = {}, {}
  for k, v in packets:entries() do
    all[k.hook] = (all[k.hook] or 0) + v.count
    if k.action == "drop" then dropped[k.hook] = (dropped[k.hook] or 0) + v.count end
  end
  for hook, total in pairs(all) do
    local d = drops:rate(hook, dropped[hook] or 0)
    local t = totals:rate(hook, total)
    if d and t and t > 0 and d / t > 0.05 then
      drop_rate:fire({ hook = hook }, d / t)
    end
  end
end)
