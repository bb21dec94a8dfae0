-- ojeomneo (seed 003): the web service's RED metrics and business metrics
-- with the seed's names, types and labels, from the service's counter region
-- (bpf/include/ojeomneo_counters.h), and its process memory from the host.
--
-- Parameters (config rule_params):
--   ojeomneo_counters   the region (default "ojeomneo_app/ojeomneo_counters")
--   ojeomneo_routes     route slots (default "ojeomneo_app/ojeomneo_routes")
--   ojeomneo_business   business slots (default "ojeomneo_app/ojeomneo_business")
--   ojeomneo_cgroup     the service's cgroup under /sys/fs/cgroup (e.g.
--                       "system.slice/ojeomneo.service"): its memory from
--                       cgroupfs, where /proc is hidden (the unit's
--                       ProtectProc=invisible) or the service runs in a
--                       container; default: the region's pid through /proc
local ABI = 2  -- OJEOMNEO_COUNTERS_ABI
-- Prometheus' default buckets plus 2 s: every latency SLO threshold is a bound.
local BOUNDS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10 }
local RM = { "method", "path" }

local requests = metric.counter("ojeomneo_http_requests_total", "HTTP 요청 총 수", { "method", "path", "status" })
local duration = metric.histogram("ojeomneo_http_request_duration_seconds", "요청 처리 시간", RM, BOUNDS)
local active = metric.gauge("ojeomneo_http_active_connections", "활성 연결 수")
local req_size = metric.summary("ojeomneo_http_request_size_bytes", "요청 크기", RM, {})
local resp_size = metric.summary("ojeomneo_http_response_size_bytes", "응답 크기", RM, {})
local orders = metric.counter("ojeomneo_orders_total", "주문 총 수", { "status", "payment_method" })
local amount = metric.counter("ojeomneo_order_amount_total", "주문 금액 합계", { "payment_method" })
local users = metric.gauge("ojeomneo_users_active", "활성 사용자 수")
local service_up = metric.gauge("ojeomneo_service_up",
  "1 while the ojeomneo service runs (its region's heartbeat), 0 once it stopped or died")
local menu_views = metric.counter("ojeomneo_menu_views_total", "메뉴 조회 수", { "category_id" })
-- The service's memory, for HighMemory (rules/ojeomneo_alerts.lua) and the dashboard.
local resident = metric.gauge("ojeomneo_process_resident_memory_bytes", "The service's resident memory")
local limit = metric.gauge("ojeomneo_process_memory_limit_bytes",
  "The service's memory limit: its cgroup's memory.max, or the host's memory")
local unslotted = metric.counter("ojeomneo_unslotted_events_total",
  "Requests and events the service could not count for lack of a free slot")

local counters = bpf.map(params.ojeomneo_counters or "ojeomneo_app/ojeomneo_counters")
local routes = bpf.map(params.ojeomneo_routes or "ojeomneo_app/ojeomneo_routes")
local business = bpf.map(params.ojeomneo_business or "ojeomneo_app/ojeomneo_business")

local function n(v) return tonumber(v) or 0 end

local warned, warned_memory
on_tick(function(t)
  local v
  for _, e in counters:entries() do v = e end
  if not v or n(v.abi) ~= ABI then
    if v and n(v.abi) ~= 0 and not warned then
      log("ojeomneo counter region: abi " .. tostring(v.abi) .. ", this rule reads abi " .. ABI)
      warned = true
    end
    return
  end
  -- Liveness (bpf/include/bpfex_liveness.h): a service that stopped or died
  -- is down; its gauges and memory stop, its counters stay.
  local alive = region.alive(v, t.now)
  if alive ~= nil then service_up:set({}, alive and 1 or 0) end
  unslotted:set({}, n(v.unslotted))
  if alive ~= false then
    active:set({}, n(v.active_connections))
    users:set({}, n(v.users_active))
    -- The service's memory: its cgroup's when rule_params.ojeomneo_cgroup
    -- names it (cgroupfs: what works under the unit's hidden /proc and for a
    -- service in a container), else its process's through /proc.
    if params.ojeomneo_cgroup then
      local mem = host.cgroup_memory(params.ojeomneo_cgroup)
      if mem then
        resident:set({}, mem.current_bytes)
        limit:set({}, mem.limit_bytes)
      end
    else
      local pid = n(v.pid)
      local mem, why = pid > 0 and host.process_memory(pid)
      if mem then
        resident:set({}, mem.resident_bytes)
        limit:set({}, mem.limit_bytes)
      elseif pid > 0 and not warned_memory then
        log("ojeomneo memory: " .. tostring(why) .. "; where /proc is hidden (the unit's ProtectProc) or the " ..
            "service is in a container, set rule_params.ojeomneo_cgroup to its cgroup")
        warned_memory = true
      end
    end
  end

  -- Route slots: one per (method, path, status). The histogram and the
  -- summaries are per (method, path): statuses summed.
  local per = {}
  for _, r in routes:entries() do
    if n(r.in_use) == 1 then
      requests:set({ r.method, r.path, tostring(n(r.status)) }, n(r.requests))
      local key = r.method .. " " .. r.path
      local p = per[key]
      if not p then
        p = { labels = { r.method, r.path }, counts = {}, sum = 0, n = 0, req = 0, resp = 0 }
        per[key] = p
      end
      local b = r.duration_buckets
      for i = 1, #BOUNDS + 1 do p.counts[i] = (p.counts[i] or 0) + n(b[i]) end
      p.sum = p.sum + n(r.duration_sum_ns) / 1e9
      p.n = p.n + n(r.requests)
      p.req, p.resp = p.req + n(r.request_bytes), p.resp + n(r.response_bytes)
    end
  end
  for _, p in pairs(per) do
    duration:set_buckets(p.labels, p.counts, p.sum)
    req_size:set(p.labels, {}, p.req, p.n)
    resp_size:set(p.labels, {}, p.resp, p.n)
  end

  -- Business slots: the kind says the family and what the labels are.
  local amounts = {}
  for _, b in business:entries() do
    if n(b.in_use) == 1 then
      if b.kind == "OJEOMNEO_ORDERS" then orders:set({ b.label1, b.label2 }, n(b.value))
      elseif b.kind == "OJEOMNEO_ORDER_AMOUNT" then amounts[b.label1] = (amounts[b.label1] or 0) + n(b.value)
      elseif b.kind == "OJEOMNEO_MENU_VIEWS" then menu_views:set({ b.label1 }, n(b.value))
      end
    end
  end
  for pay, a in pairs(amounts) do amount:set({ pay }, a) end
end)
