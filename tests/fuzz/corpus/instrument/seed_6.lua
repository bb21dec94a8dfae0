-- Seed 003 (web service RED metrics): its SLO alerts evaluated inside bpfex,
-- over maps an HTTP probe would keep (names under http/). Not loaded by default.
--   HighErrorRate: 5xx / all requests over 5m > 5%       (critical)
--   HighLatency:   p95 of the request duration over 5m > 2s (warning)
local BOUNDS = { 0.1, 0.25, 0.5, 1, 2, 5 }   -- seconds; the map's slot 7 is +Inf
local requests = metric.counter("http_requests_total", "Requests by status class", { "status" })
local duration = metric.histogram("http_request_duration_seconds", "Request duration", {}, BOUNDS)

local error_rate = alert{
  name = "HighErrorRate", ["for"] = "5m", labels = { severity = "critical" },
  annotations = { summary = "에러율 {{ $value | humanizePercentage }} (> 5%)" },
}
local latency = alert{
  name = "HighLatency", ["for"] = "5m", labels = { severity = "warning" },
  annotations = { summary = "P95 응답 시간 {{ $value | humanizeDuration }} (> 2s)" },
}
local req_rates, bucket_inc = window("5m"), window("5m")
local req_map, lat_map = bpf.map("http/requests"), bpf.map("http/latency")

on_tick(function()
  local all, errors = 0, 0
  for k, v in req_map:entries() do
    requests:set({ k.status }, v.count)
    local r = req_rates:rate(k.status, v.count) or 0
    all = all + r
    if k.status == "5xx" then errors = errors + r end
  end
  if all > 0 and errors / all > 0.05 then error_rate:fire({}, errors / all) end

  for _, v in lat_map:entries() do
    local slots, sum = v.buckets, v.sum_ms / 1000
    duration:set_buckets({}, slots, sum)
    -- histogram_quantile(0.95, rate(..._bucket[5m])): per-bucket increases over the window
    local inc, any = {}, false
    for i = 1, #slots do
      inc[i] = bucket_inc:increase(tostring(i), slots[i]) or 0
      any = any or inc[i] > 0
    end
    if any then
      local p95 = hist.quantile(0.95, inc, BOUNDS)
      if p95 > 2 then latency:fire({}, p95) end
    end
  end
end)
