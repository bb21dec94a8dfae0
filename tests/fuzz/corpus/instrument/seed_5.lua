-- Seed 002 (MASQUE VPN server): its alert examples evaluated inside bpfex,
-- over maps a MASQUE data path would keep (names under masque/, declare them
-- in bpf.maps). Not loaded by default: copy or point --rules here.
--   HighErrorRate:    rate(masque_vpn_errors_total[5m]) > 0.1, for 2m
--   IPPoolExhaustion: masque_vpn_ip_pool_available / masque_vpn_ip_pool_total < 0.1, for 1m
local errors_total = metric.counter("masque_vpn_errors_total", "Errors by type", { "type" })
local pool_total = metric.gauge("masque_vpn_ip_pool_total", "Addresses in the IP pool")
local pool_available = metric.gauge("masque_vpn_ip_pool_available", "Free addresses in the IP pool")
local pool_used = metric.gauge("masque_vpn_ip_pool_used", "Used addresses in the IP pool")
local pool_ratio = metric.gauge("masque_vpn_ip_pool_utilization_ratio", "Used over total (derived)")

local high_errors = alert{
  name = "HighErrorRate", ["for"] = "2m", labels = { severity = "warning" },
  annotations = { summary = "High error rate in MASQUE VPN ({{ $value }}/s, {{ $labels.type }})" },
}
local exhaustion = alert{
  name = "IPPoolExhaustion", ["for"] = "1m", labels = { severity = "critical" },
  annotations = { summary = "IP pool nearly exhausted ({{ $value | humanizePercentage }} free)" },
}
local rates = window("5m")
local errors, pool = bpf.map("masque/errors"), bpf.map("masque/ip_pool")

on_tick(function()
  for k, v in errors:entries() do
    errors_total:set({ k.type }, v.count)
    local r = rates:rate(k.type, v.count)
    if r and r > 0.1 then high_errors:fire({ type = k.type }, r) end
  end
  for _, v in pool:entries() do
    pool_total:set({}, v.total)
    pool_available:set({}, v.available)
    pool_used:set({}, v.total - v.available)
    if v.total > 0 then
      pool_ratio:set({}, (v.total - v.available) / v.total)
      local free = v.available / v.total
      if free < 0.1 then exhaustion:fire({}, free) end
    end
  end
end)
