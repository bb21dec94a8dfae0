-- Seed 003's SLOs (§8) as multi-window, multi-burn-rate alerts (the Google
-- SRE workbook, "Alerting on SLOs", its recommended windows), evaluated
-- in-process over rules/ojeomneo.lua's series.
--
--   slo                objective  a bad event
--   availability       99.9 %     a 5xx response
--   api_availability   99.5 %     any response but 2xx (the seed's "200 응답")
--   error_rate         99 %       a 5xx response (the seed's "에러율 < 1%")
--   latency_p50        50 %       a request slower than 100 ms
--   latency_p95        95 %       a request slower than 500 ms
--   latency_p99        99 %       a request slower than 2 s
--
-- The burn rate over a window is the bad events' share over that window
-- divided by the error budget (1 - objective).
--   SLOBudgetBurnPage    burn(1h) > 14.4 and burn(5m) > 14.4,     2 % of a
--                        or burn(6h) > 6 and burn(30m) > 6        30-day budget
--                                                                 in 1h / 5 % in 6h
--   SLOBudgetBurnTicket  burn(1d) > 3 and burn(2h) > 3,          10 % in 1d /
--                        or burn(3d) > 1 and burn(6h) > 1         10 % in 3d
-- The short window of each pair makes an alert resolve soon after the burn
-- stops. Pages carry pager="true" (PagerDuty, deploy/alertmanager/ojeomneo.yml).
--
-- Recording series (the SLIs, as counters): ojeomneo:slo_events_total{slo}
-- and ojeomneo:slo_bad_events_total{slo}; and the budget left over
-- rule_params.ojeomneo_slo_budget_window (default 30d):
-- ojeomneo_slo_error_budget_remaining{slo} (1: untouched, 0: spent, below 0:
-- overspent), from hourly snapshots of the SLI counters since bpfex started.
interval("30s")

local SLOS = {
  { slo = "availability", objective = 0.999, bad = "5xx" },
  { slo = "api_availability", objective = 0.995, bad = "non2xx" },
  { slo = "error_rate", objective = 0.99, bad = "5xx" },
  { slo = "latency_p50", objective = 0.50, slower = "0.1" },
  { slo = "latency_p95", objective = 0.95, slower = "0.5" },
  { slo = "latency_p99", objective = 0.99, slower = "2" },
}
local BUDGET_WINDOW = bpfex.duration(params.ojeomneo_slo_budget_window or "30d")

local events = metric.counter("ojeomneo:slo_events_total", "Events an SLO counts (requests)", { "slo" })
local bad_events = metric.counter("ojeomneo:slo_bad_events_total", "Events against an SLO", { "slo" })
local remaining = metric.gauge("ojeomneo_slo_error_budget_remaining",
  "Error budget left over the budget window (1 untouched, 0 spent)", { "slo" })
local objective = metric.gauge("ojeomneo_slo_objective", "The SLO's objective (a ratio)", { "slo" })

local page = alert{
  name = "SLOBudgetBurnPage", labels = { severity = "critical", pager = "true", service = "ojeomneo" },
  annotations = {
    summary = "{{ $labels.slo }}: 에러 버짓 소진 속도 {{ $value }}x ({{ $labels.window }})",
    description = "이 속도라면 30일 에러 버짓이 곧 소진됩니다.",
  },
}
local ticket = alert{
  name = "SLOBudgetBurnTicket", labels = { severity = "warning", service = "ojeomneo" },
  annotations = { summary = "{{ $labels.slo }}: 에러 버짓 소진 속도 {{ $value }}x ({{ $labels.window }})" },
}

local WINDOWS = { "5m", "30m", "1h", "2h", "6h", "1d", "3d" }
local total_r, bad_r = {}, {}
for _, w in ipairs(WINDOWS) do
  total_r[w] = range("ojeomneo:slo_events_total", w)
  bad_r[w] = range("ojeomneo:slo_bad_events_total", w)
end

local function n(v) return tonumber(v) or 0 end

-- The SLIs from the current counters: totals and bad events per SLO.
local function record()
  local all, s5xx, non2xx = 0, 0, 0
  for _, s in ipairs(vec.series("ojeomneo_http_requests_total")) do
    all = all + s.value
    local st = s.labels.status or ""
    if st:match("^5%d%d$") then s5xx = s5xx + s.value end
    if not st:match("^2%d%d$") then non2xx = non2xx + s.value end
  end
  -- Requests at or under each threshold: the cumulative bucket of that le.
  local under, count = {}, 0
  for _, s in ipairs(vec.series("ojeomneo_http_request_duration_seconds_bucket")) do
    under[s.labels.le] = (under[s.labels.le] or 0) + s.value
  end
  for _, s in ipairs(vec.series("ojeomneo_http_request_duration_seconds_count")) do count = count + s.value end
  for _, o in ipairs(SLOS) do
    local total, bad = all, 0
    if o.bad == "5xx" then bad = s5xx
    elseif o.bad == "non2xx" then bad = non2xx
    else total, bad = count, count - (under[o.slower] or 0)
    end
    events:set({ o.slo }, total)
    bad_events:set({ o.slo }, math.max(0, bad))
    objective:set({ o.slo }, o.objective)
  end
end

-- burn(w) per slo: increase(bad[w]) / increase(total[w]) / (1 - objective).
local function burns(w)
  local out = {}
  local ratio = vec.binop(vec.increase(bad_r[w]), "/", vec.increase(total_r[w]))
  for _, s in ipairs(ratio) do out[s.labels.slo] = s.value end
  return out
end

-- Hourly snapshots of the SLI counters, for the budget window.
local snapshots = {}
local function budget(now)
  for _, o in ipairs(SLOS) do
    local t = vec.series("ojeomneo:slo_events_total", { slo = o.slo })[1]
    local b = vec.series("ojeomneo:slo_bad_events_total", { slo = o.slo })[1]
    if t and b then
      local snaps = snapshots[o.slo] or {}
      snapshots[o.slo] = snaps
      local last = snaps[#snaps]
      if last and (t.value < last.total or b.value < last.bad) then  -- a counter reset: start over
        snaps = {}
        snapshots[o.slo] = snaps
        last = nil
      end
      if not last or now - last.t >= 3600 then snaps[#snaps + 1] = { t = now, total = t.value, bad = b.value } end
      while #snaps > 1 and now - snaps[2].t >= BUDGET_WINDOW do table.remove(snaps, 1) end
      local first = snaps[1]
      local dt, db = t.value - first.total, b.value - first.bad
      remaining:set({ o.slo }, dt > 0 and 1 - (db / dt) / (1 - o.objective) or 1)
    end
  end
end

on_tick(function(tick)
  record()
  local b = {}
  for _, w in ipairs(WINDOWS) do b[w] = burns(w) end
  for _, o in ipairs(SLOS) do
    local s, budget_share = o.slo, 1 - o.objective
    local function burn(w)
      local r = b[w][s]
      return r and r == r and r / budget_share or 0  -- no events in the window: no burn
    end
    if burn("1h") > 14.4 and burn("5m") > 14.4 then page:fire({ slo = s, window = "1h" }, burn("1h"))
    elseif burn("6h") > 6 and burn("30m") > 6 then page:fire({ slo = s, window = "6h" }, burn("6h")) end
    if burn("1d") > 3 and burn("2h") > 3 then ticket:fire({ slo = s, window = "1d" }, burn("1d"))
    elseif burn("3d") > 1 and burn("6h") > 1 then ticket:fire({ slo = s, window = "3d" }, burn("3d")) end
  end
  budget(tick.now)
end)
