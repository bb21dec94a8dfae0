-- Seed 000's alert rules, evaluated inside bpfex: the Lua twins of
-- deploy/prometheus/alerts.yml (group vpn_router_alerts, interval 30s), over
-- the series rules/vpn_router.lua serves. DaemonDown needs a scraper and
-- exists only in the Prometheus file.
--
-- Each block is its PromQL expression, step by step; vec.series() is the
-- instant selector, range("x", "5m") the range selector x[5m], and
-- vec.rate(r, match) is rate(x{match}[5m]) as Prometheus computes it, over
-- every tick's sample although this rule runs every 30 s.
interval("30s")

local drop_rate = alert{
  name = "HighPacketDropRate", ["for"] = "2m", labels = { severity = "warning" },
  annotations = {
    summary = "높은 패킷 드롭률 감지 ({{ $value | humanizePercentage }})",
    description = "{{ $labels.hook }}에서 패킷 드롭률이 5%를 초과했습니다.",
  },
}
local latency = alert{
  name = "HighPacketLatency", ["for"] = "5m", labels = { severity = "warning" },
  annotations = {
    summary = "높은 패킷 처리 지연시간 ({{ $value }}µs)",
    description = "{{ $labels.hook }}의 p99 지연시간이 50µs를 초과했습니다.",
  },
}
local map_capacity = alert{
  name = "eBPFMapNearCapacity", ["for"] = "10m", labels = { severity = "warning" },
  annotations = {
    summary = "eBPF 맵 용량 80% 초과 ({{ $labels.map_name }})",
    description = "맵 확장이 곧 필요할 수 있습니다.",
  },
}
local idp_down = alert{
  name = "IDPDisconnected", ["for"] = "2m", labels = { severity = "critical" },
  annotations = {
    summary = "IDP 연결 끊김",
    description = "IDP와의 연결이 끊어졌습니다. 캐시된 정책을 사용 중입니다.",
  },
}
local violation_spike = alert{
  name = "PolicyViolationSpike", ["for"] = "1m", labels = { severity = "warning" },
  annotations = {
    summary = "정책 위반 급증 ({{ $value }}/s)",
    description = "{{ $labels.role }} 역할에서 비정상적으로 많은 정책 위반이 감지되었습니다.",
  },
}
local session_errors = alert{
  name = "VPNSessionErrors", ["for"] = "2m", labels = { severity = "critical" },
  annotations = {
    summary = "VPN 세션 오류 (tunnel {{ $labels.tunnel_id }})",
    description = "터널에서 {{ $labels.error_type }} 오류가 급증했습니다.",
  },
}

local packets_5m = range("vpn_packets_total", "5m")
local violations_5m = range("vpn_policy_violations_total", "5m")
local session_errors_5m = range("vpn_session_errors_total", "5m")

on_tick(function()
  -- sum by (hook) (rate(vpn_packets_total{action="drop"}[5m]))
  --   / sum by (hook) (rate(vpn_packets_total[5m])) > 0.05
  local drops = vec.sum_by(vec.rate(packets_5m, { action = "drop" }), { "hook" })
  local all = vec.sum_by(vec.rate(packets_5m), { "hook" })
  drop_rate:fire_each(vec.filter(vec.binop(drops, "/", all), ">", 0.05))

  -- vpn_latency_microseconds{quantile="0.99"} > 50
  latency:fire_each(vec.filter(vec.series("vpn_latency_microseconds", { quantile = "0.99" }), ">", 50))

  -- vpn_ebpf_map_usage_ratio > 0.8
  map_capacity:fire_each(vec.filter(vec.series("vpn_ebpf_map_usage_ratio"), ">", 0.8))

  -- vpn_idp_connected == 0
  idp_down:fire_each(vec.filter(vec.series("vpn_idp_connected"), "==", 0))

  -- rate(vpn_policy_violations_total[5m]) > 100
  violation_spike:fire_each(vec.filter(vec.rate(violations_5m), ">", 100))

  -- rate(vpn_session_errors_total[5m]) > 10
  session_errors:fire_each(vec.filter(vec.rate(session_errors_5m), ">", 10))
end)
