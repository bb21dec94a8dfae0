-- Seed 002's two alerting rules, evaluated inside bpfex over the catalog
-- rules/masque.lua serves: the Lua twins of deploy/prometheus/masque_alerts.yml.
--   HighErrorRate:    rate(masque_vpn_errors_total[5m]) > 0.1, for 2m
--   IPPoolExhaustion: (masque_vpn_ip_pool_available / masque_vpn_ip_pool_total) < 0.1, for 1m
interval("15s")

local high_errors = alert{
  name = "HighErrorRate", ["for"] = "2m", labels = { severity = "warning" },
  annotations = { summary = "High error rate in MASQUE VPN" },
}
local exhaustion = alert{
  name = "IPPoolExhaustion", ["for"] = "1m", labels = { severity = "critical" },
  annotations = { summary = "IP pool nearly exhausted" },
}
local errors_5m = range("masque_vpn_errors_total", "5m")

on_tick(function()
  high_errors:fire_each(vec.filter(vec.rate(errors_5m), ">", 0.1))
  local ratio = vec.binop(vec.series("masque_vpn_ip_pool_available"), "/", vec.series("masque_vpn_ip_pool_total"))
  exhaustion:fire_each(vec.filter(ratio, "<", 0.1))
end)
