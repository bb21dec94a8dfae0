-- Seed 003's alert table (5.1), the rows bpfex has the data for, evaluated
-- in-process over rules/ojeomneo.lua's series. The rows that need other
-- exporters (PodDown, DBConnectionExhausted, RedisCacheHitLow,
-- RedisMemoryHigh) are in deploy/prometheus/ojeomneo_alerts.yml.
--   HighErrorRate  5xx / all over 5m > 5%, for 5m      critical (Slack, email)
--   HighLatency    p95 over 5m > 2 s, for 5m           warning (Slack)
--   HighMemory     resident / limit > 80%, for 5m     warning (Slack)
interval("15s")

local error_rate = alert{
  name = "HighErrorRate", ["for"] = "5m", labels = { severity = "critical", service = "ojeomneo" },
  annotations = { summary = "에러율 {{ $value | humanizePercentage }} (> 5%, 5분)" },
}
local latency = alert{
  name = "HighLatency", ["for"] = "5m", labels = { severity = "warning", service = "ojeomneo" },
  annotations = { summary = "P95 응답 시간 {{ $value | humanizeDuration }} (> 2s, 5분)" },
}
local memory = alert{
  name = "HighMemory", ["for"] = "5m", labels = { severity = "warning", service = "ojeomneo" },
  annotations = { summary = "메모리 사용률 {{ $value | humanizePercentage }} (> 80%)" },
}
local requests_5m = range("ojeomneo_http_requests_total", "5m")
local buckets_5m = range("ojeomneo_http_request_duration_seconds_bucket", "5m")

on_tick(function()
  -- sum(rate(ojeomneo_http_requests_total{status=~"5.."}[5m])) / sum(rate(ojeomneo_http_requests_total[5m])) > 0.05
  local all = vec.rate(requests_5m)
  local errors = {}
  for _, s in ipairs(all) do
    if s.labels.status:match("^5%d%d$") then errors[#errors + 1] = s end
  end
  local ratio = vec.binop(vec.sum_by(errors, {}), "/", vec.sum_by(all, {}))
  error_rate:fire_each(vec.filter(ratio, ">", 0.05))

  -- histogram_quantile(0.95, sum by (le) (rate(ojeomneo_http_request_duration_seconds_bucket[5m]))) > 2
  local p95 = vec.histogram_quantile(0.95, vec.sum_by(vec.rate(buckets_5m), { "le" }))
  latency:fire_each(vec.filter(p95, ">", 2))

  -- ojeomneo_process_resident_memory_bytes / ojeomneo_process_memory_limit_bytes > 0.8
  memory:fire_each(vec.filter(vec.binop(vec.series("ojeomneo_process_resident_memory_bytes"), "/",
    vec.series("ojeomneo_process_memory_limit_bytes")), ">", 0.8))
end)
