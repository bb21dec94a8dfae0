-- Ironpost (seed 001): its eBPF engine, log pipeline, container guard and
-- daemon groups, with the seed's names, types and labels (its Appendix A).
--
-- Where each group comes from:
--   ebpf_*             the bundled ironpost_xdp program's maps (bpf/include/
--                      ironpost_abi.h): traffic by protocol, blocked frames,
--                      the program's own run time as a log2 histogram
--   log_pipeline_*,    the daemon's application counter region (bpf/include/
--   container_guard_*, ironpost_counters.h): a pinned, mmapable BPF array the
--   daemon_*           daemon adds to with atomic adds; bpfex copies it once
--                      per tick from its own mapping
--   sbom_scanner_*     push jobs (rules/jobs/sbom_scan.lua), since a scan is
--                      short-lived; the scan duration of scans the daemon runs
--                      itself comes from the region
--
-- Parameters (config rule_params):
--   ironpost_stats_map     map of traffic by protocol (default "ironpost/ironpost_stats")
--   ironpost_latency_map   map of the run-time histogram (default "ironpost/ironpost_latency")
--   ironpost_region        the counter region (default "ironpost_app/ironpost_counters")
--   ironpost_rate_window   window of the per-second gauges (default 15s)
-- The map names take foreign maps too: Ironpost's own engine's pinned maps,
-- declared in bpf.maps with these field names (docs/ironpost.md).
local STATS = params.ironpost_stats_map or "ironpost/ironpost_stats"
local LATENCY = params.ironpost_latency_map or "ironpost/ironpost_latency"
local REGION = params.ironpost_region or "ironpost_app/ironpost_counters"
local RATE_WINDOW = params.ironpost_rate_window or "15s"
local REGION_ABI = 2  -- IRONPOST_COUNTERS_ABI

-- eBPF engine
local packets = metric.counter("ironpost_ebpf_packets_total", "Total number of packets processed by eBPF XDP")
local blocked = metric.counter("ironpost_ebpf_packets_blocked_total",
  "Total number of packets blocked (XDP_DROP) by eBPF")
local bytes = metric.counter("ironpost_ebpf_bytes_total", "Total bytes processed by eBPF XDP")
local proto_packets = metric.counter("ironpost_ebpf_protocol_packets_total",
  "Packets processed per protocol (TCP, UDP, ICMP, other)", { "protocol" })
-- The program's slot k counts (2^(k-1), 2^k] ns (bpf/include/bpfex_log2.h),
-- so le = 2^k ns exactly, from 1 ns to 2^23 ns (8.4 ms); slower runs are in
-- +Inf, zeros join the first bucket, and the sum is the program's own.
local XDP_BUCKETS = 24
local xdp_duration = metric.histogram("ironpost_ebpf_xdp_processing_duration_seconds",
  "XDP packet processing latency in seconds", {}, hist.log2_bounds(XDP_BUCKETS, 1e-9))
local pps = metric.gauge("ironpost_ebpf_packets_per_second", "Current packet processing rate (packets/sec)",
  { "protocol" })
local bps = metric.gauge("ironpost_ebpf_bits_per_second", "Current throughput rate (bits/sec)", { "protocol" })

-- log pipeline
local logs_collected = metric.counter("ironpost_log_pipeline_logs_collected_total",
  "Total number of raw log lines collected from all sources")
local logs_processed = metric.counter("ironpost_log_pipeline_logs_processed_total",
  "Total number of log entries successfully parsed and processed")
local parse_errors = metric.counter("ironpost_log_pipeline_parse_errors_total",
  "Total number of log parsing failures", { "format" })
local rule_matches = metric.counter("ironpost_log_pipeline_rule_matches_total",
  "Total number of detection rule matches")
local alerts_sent = metric.counter("ironpost_log_pipeline_alerts_sent_total",
  "Total number of alert events sent to downstream consumers")
-- PROCESSING_DURATION_BUCKETS; the application buckets in integer
-- nanoseconds against the same bounds (IRONPOST_PROCESSING_BOUNDS_NS).
local processing = metric.histogram("ironpost_log_pipeline_processing_duration_seconds",
  "Time to process a single log batch in seconds", {},
  { 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 10.0 })
local buffer_size = metric.gauge("ironpost_log_pipeline_buffer_size",
  "Current number of log entries in the processing buffer")
local logs_dropped = metric.counter("ironpost_log_pipeline_logs_dropped_total",
  "Total number of log entries dropped due to buffer overflow")

-- container guard
local monitored = metric.gauge("ironpost_container_guard_monitored_containers",
  "Number of containers currently being monitored")
local violations = metric.counter("ironpost_container_guard_policy_violations_total",
  "Total number of security policy violations detected")
local isolations = metric.counter("ironpost_container_guard_isolations_total",
  "Total number of container isolation actions executed", { "action", "result" })
local isolation_failures = metric.counter("ironpost_container_guard_isolation_failures_total",
  "Total number of failed container isolation attempts")
local alerts_processed = metric.counter("ironpost_container_guard_alerts_processed_total",
  "Total number of alert events processed by container guard")
local policies = metric.gauge("ironpost_container_guard_policies_loaded",
  "Number of security policies currently loaded")

-- sbom scanner: scans the daemon runs itself (SCAN_DURATION_BUCKETS)
local scan_duration = metric.histogram("ironpost_sbom_scanner_scan_duration_seconds",
  "Time to complete a single SBOM scan in seconds", {}, { 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300 })

-- daemon
local uptime = metric.gauge("ironpost_daemon_uptime_seconds", "Ironpost daemon uptime in seconds")
local plugins = metric.gauge("ironpost_daemon_plugins_registered", "Number of plugins registered in the daemon")
local build_info = metric.gauge("ironpost_daemon_build_info",
  "Build information (always 1, with version/commit labels)", { "version", "commit" })
local daemon_up = metric.gauge("ironpost_daemon_up",
  "1 while the Ironpost daemon runs (its region's heartbeat), 0 once it stopped or died")

local stats_map = bpf.map(STATS)
local latency_map = bpf.map(LATENCY)
local app_region = bpf.map(REGION)
local pkt_rates = window(RATE_WINDOW)
local bit_rates = window(RATE_WINDOW)

-- The seed's protocol label values are the program's field names
-- (struct ironpost_traffic), read by name through its BTF.
local PROTOCOLS = { "tcp", "udp", "icmp", "other" }

local function ebpf()
  local tot_p, tot_b, tot_blocked = 0, 0, 0
  for _, v in stats_map:entries() do
    for _, proto in ipairs(PROTOCOLS) do
      local p, b = tonumber(v[proto .. ".packets"]), tonumber(v[proto .. ".bytes"])
      proto_packets:set({ proto }, p)
      tot_p, tot_b, tot_blocked = tot_p + p, tot_b + b, tot_blocked + tonumber(v[proto .. ".blocked"])
      local r = pkt_rates:rate(proto, p)
      if r then pps:set({ proto }, r) end
      r = bit_rates:rate(proto, b)
      if r then bps:set({ proto }, r * 8) end
    end
  end
  packets:set({}, tot_p)
  bytes:set({}, tot_b)
  blocked:set({}, tot_blocked)
  local r = pkt_rates:rate("total", tot_p)
  if r then pps:set({ "total" }, r) end
  r = bit_rates:rate("total", tot_b)
  if r then bps:set({ "total" }, r * 8) end

  for _, v in latency_map:entries() do
    local slots = hist.from_log2(v.slots, tonumber(v.sum_ns) / 1e9, tonumber(v.zero))
    local buckets, over = {}, 0
    for s = 1, #slots - 1 do
      if s <= XDP_BUCKETS then buckets[s] = slots[s] else over = over + slots[s] end
    end
    buckets[XDP_BUCKETS + 1] = over
    xdp_duration:set_buckets({}, buckets, tonumber(v.sum_ns) / 1e9)
  end
end

local function numbers(t)
  local out = {}
  for i = 1, #t do out[i] = tonumber(t[i]) end
  return out
end

local warned
local function application(now)
  for _, v in app_region:entries() do
    if tonumber(v.abi) ~= REGION_ABI then
      -- 0: the daemon has not mapped the region yet. Anything else is a
      -- layout this rule does not know: serve nothing rather than misread.
      if tonumber(v.abi) ~= 0 and not warned then
        log("counter region " .. REGION .. ": abi " .. tostring(v.abi) .. ", this rule reads abi " .. REGION_ABI)
        warned = true
      end
      return
    end
    -- Liveness (bpf/include/bpfex_liveness.h): a daemon that stopped or
    -- died is down, and what only a live daemon can say (its gauges, uptime,
    -- build) stops; its counters stay, for the next start to continue.
    local alive = region.alive(v, now)
    if alive ~= nil then daemon_up:set({}, alive and 1 or 0) end
    logs_collected:set({}, tonumber(v.logs_collected))
    logs_processed:set({}, tonumber(v.logs_processed))
    for _, f in ipairs({ "syslog", "json", "unknown" }) do
      parse_errors:set({ f }, tonumber(v["parse_errors." .. f]))
    end
    rule_matches:set({}, tonumber(v.rule_matches))
    alerts_sent:set({}, tonumber(v.alerts_sent))
    processing:set_buckets({}, numbers(v.processing_buckets), tonumber(v.processing_sum_ns) / 1e9)
    logs_dropped:set({}, tonumber(v.logs_dropped))
    violations:set({}, tonumber(v.policy_violations))
    for _, a in ipairs({ "disconnect", "pause", "stop" }) do
      for _, r in ipairs({ "success", "failure" }) do
        isolations:set({ a, r }, tonumber(v["isolations." .. a .. "." .. r]))
      end
    end
    isolation_failures:set({}, tonumber(v.isolation_failures))
    alerts_processed:set({}, tonumber(v.alerts_processed))
    scan_duration:set_buckets({}, numbers(v.scan_buckets), tonumber(v.scan_sum_ns) / 1e9)

    if alive ~= false then
      buffer_size:set({}, tonumber(v.buffer_size))
      monitored:set({}, tonumber(v.monitored_containers))
      policies:set({}, tonumber(v.policies_loaded))
      local start = tonumber(v.start_time_ns) / 1e9
      uptime:set({}, math.max(0, now - start))
      plugins:set({}, tonumber(v.plugins_registered))
      build_info:set({ v.version, v.commit }, 1)
    end
  end
end

on_tick(function(t)
  ebpf()
  application(t.now)
end)
