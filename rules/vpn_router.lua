-- VPN router (seed 000): the whole metric catalog, from the bundled
-- vpn_router BPF object (bpf/vpn_router.bpf.c), the IDP sync job's state and
-- the daemon itself. Names, types and label sets are the seed's.
--
-- Parameters (config rule_params):
--   vpn_object              the vpn_router object's name in bpf.objects (default "vpn")
--   vpn_netns               network namespace of its interfaces (default: bpfex's own)
--   vpn_latency_window      window of the latency quantiles (default 1m)
--   vpn_session_timeout     a session without messages for this long is not active (default 180s)
--   vpn_idp_sync_interval   how often the IDP sync job runs (default 5m); its state
--                           older than 3 intervals means the IDP is disconnected
--
-- Where each group comes from:
--   packets, bytes, latency     stats_map and latency_map (per-CPU arrays)
--   policy                      counters_map, violations_map, role_names, policy maps
--   sessions                    session_key_map (kept by the data path)
--   eBPF maps and programs      map info, counters_map's operation counts,
--                               stats_map rows (runs per interface), bpf.programs()
--   IDP                         state "idp_sync" written by rules/jobs/idp_sync.lua
--   system                      bpfex's own process (the daemon), host CPUs
--   errors                      data-path errors, session crypto errors, IDP and rule errors
--
-- Cardinality (seed 000): at most 100 roles and 10 tunnels as label values;
-- the rest are summed into role="other" / tunnel_id="other".
local OBJ = params.vpn_object or "vpn"
local NETNS = params.vpn_netns

local function seconds(param, d)
  local ok, v = pcall(bpfex.duration, d)
  if not ok then error("rule_params." .. param .. ": " .. tostring(v), 0) end
  return v
end
local SESSION_TIMEOUT = seconds("vpn_session_timeout", params.vpn_session_timeout or "180s")
local IDP_STALE = 3 * seconds("vpn_idp_sync_interval", params.vpn_idp_sync_interval or "5m")

-- 1. packets
local packets = metric.counter("vpn_packets_total", "Total number of packets processed",
  { "direction", "action", "hook" })
local bytes = metric.counter("vpn_bytes_total", "Total number of bytes processed", { "direction", "hook" })
-- 2. latency
local latency = metric.summary("vpn_latency_microseconds", "Packet processing latency", { "hook" },
  { 0.5, 0.95, 0.99 })
local SLOTS = 32
-- The program's slot k counts (2^(k-1), 2^k] ns (bpf/include/bpfex_log2.h),
-- so le = 2^k ns exactly; zeros are counted apart and join the first bucket.
local LAT_BOUNDS = hist.log2_bounds(SLOTS, 0.001)                -- le per slot, ns -> µs
-- Beyond the catalog: the latency distribution itself, for the dashboard's
-- heatmap (log2 buckets from 1 ns to 8.4 ms; slower runs are in +Inf).
local HIST_BUCKETS = 24
local latency_hist = metric.histogram("vpn_packet_latency_microseconds",
  "Packet processing latency distribution (log2 buckets)", { "hook" }, hist.log2_bounds(HIST_BUCKETS, 0.001))
-- 3. policy
local lookups = metric.counter("vpn_policy_lookups_total", "Policy lookups", { "map", "result" })
local violations = metric.counter("vpn_policy_violations_total", "Policy violations (denied packets)",
  { "role", "action", "rule_id" })
local policy_entries = metric.gauge("vpn_policy_entries", "Policy entries loaded", { "type" })
-- 4. sessions
local sessions_active = metric.gauge("vpn_sessions_active", "Active VPN sessions")
local session_packets = metric.counter("vpn_session_packets_total", "VPN session packets",
  { "tunnel_id", "direction" })
local session_errors = metric.counter("vpn_session_errors_total", "VPN session errors",
  { "tunnel_id", "error_type" })
local rotations = metric.counter("vpn_session_key_rotations_total", "VPN session key rotations", { "tunnel_id" })
-- 5. eBPF maps
local map_entries = metric.gauge("vpn_ebpf_map_entries", "eBPF map entries", { "map_name", "status" })
local map_usage = metric.gauge("vpn_ebpf_map_usage_ratio", "eBPF map usage (0.0-1.0)", { "map_name" })
local map_ops = metric.counter("vpn_ebpf_map_operations_total", "eBPF map operations by the data path",
  { "map_name", "operation" })
-- 6. eBPF programs
local prog_runs = metric.counter("vpn_ebpf_program_run_count_total", "eBPF program runs",
  { "program", "interface" })
local prog_time = metric.counter("vpn_ebpf_program_run_time_nanoseconds_total", "eBPF program run time",
  { "program" })
-- 7. IDP
local idp_syncs = metric.counter("vpn_idp_sync_total", "IDP synchronisations", { "status" })
local idp_duration = metric.histogram("vpn_idp_sync_duration_seconds", "IDP synchronisation time", {},
  { 0.1, 0.25, 0.5, 1, 2, 5, 10, 30 })
local idp_users = metric.gauge("vpn_idp_users_synced", "Users fetched by the last synchronisation")
local idp_connected = metric.gauge("vpn_idp_connected", "IDP connection state (1 connected, 0 disconnected)")
-- 8. system
local uptime = metric.gauge("vpn_daemon_uptime_seconds", "Daemon uptime")
local restarts = metric.counter("vpn_daemon_restarts_total", "Daemon restarts")
local memory = metric.gauge("vpn_daemon_memory_bytes", "Daemon memory", { "type" })
local cpu_seconds = metric.counter("vpn_daemon_cpu_seconds_total", "Daemon CPU time")
-- 9. CPUs
local cpu_usage = metric.gauge("vpn_cpu_usage_percent", "Per-CPU usage", { "cpu" })
-- 10. errors
local errors = metric.counter("vpn_errors_total", "Errors by component", { "component", "error_type" })

local stats_map = bpf.map(OBJ .. "/stats_map")
local latency_map = bpf.map(OBJ .. "/latency_map")
local counters_map = bpf.map(OBJ .. "/counters_map")
local violations_map = bpf.map(OBJ .. "/violations_map")
local role_names = bpf.map(OBJ .. "/role_names")
local session_map = bpf.map(OBJ .. "/session_key_map")
local MAPS = { -- the seed's map_name values, and the policy maps besides
  ip_role_map = bpf.map(OBJ .. "/ip_role_map"),
  role_acl_map = bpf.map(OBJ .. "/role_acl_map"),
  network_zone_map = bpf.map(OBJ .. "/network_zone_map"),
  session_key_map = session_map,
  stats_map = stats_map,
}

-- The data path's enums (bpfex_abi.h), from the object's BTF at each tick:
-- their names give the label values (BPFEX_HOOK_TC_INGRESS: "tc_ingress")
-- and their order the arrays' indices, so reordering or adding an
-- enumerator in the header cannot mislabel a series here.
local DIRECTION = { xdp = "ingress", tc_ingress = "ingress", tc_egress = "egress" }
local ABI -- this tick's: hooks, actions, policy_maps, op_maps, ops, components, dp_errors

-- Label values by index (enumerator value + 1); the values must be 0..n-1,
-- as the arrays the data path indexes with them.
local function enum_labels(enum, prefix, suffix)
  local out = {}
  for i, e in ipairs(stats_map:enum(enum)) do
    if e.value ~= i - 1 or e.name:sub(1, #prefix) ~= prefix then
      error(("enum %s: %s = %s is not the %dth of %s*"):format(enum, e.name, tostring(e.value), i - 1, prefix))
    end
    out[i] = e.name:sub(#prefix + 1):lower() .. (suffix or "")
  end
  return out
end

local function read_abi()
  return {
    hooks = enum_labels("bpfex_hook", "BPFEX_HOOK_"),
    actions = enum_labels("vpn_action", "VPN_ACTION_"),
    policy_maps = enum_labels("vpn_policy_map", "VPN_POLICY_"),
    op_maps = enum_labels("vpn_map_id", "VPN_MAP_", "_map"),
    ops = enum_labels("vpn_map_op", "VPN_OP_"),
    components = enum_labels("vpn_component", "VPN_COMPONENT_"),
    dp_errors = enum_labels("vpn_error", "VPN_ERR_"),
  }
end

local role_label = labels.cap(100, "other")
local tunnel_label = labels.cap(10, "other")
local lat_window = window(params.vpn_latency_window or "1m")
local rule_errors = 0

-- Sums values into rows keyed by their label values, then writes them, so
-- capped labels ("other") carry the sum of what they stand for.
local function accumulator()
  local rows, order = {}, {}
  return {
    add = function(l, v)
      local k = table.concat(l, "\1")
      local r = rows[k]
      if not r then
        r = { l = l, v = 0 }
        rows[k] = r
        order[#order + 1] = r
      end
      r.v = r.v + v
    end,
    write = function(m)
      for _, r in ipairs(order) do m:set(r.l, r.v) end
    end,
  }
end

local function collect_packets()
  local pk, by, runs = accumulator(), accumulator(), accumulator()
  -- Every series exists from the start, so rate() sees the first drop.
  local HOOKS, ACTIONS = ABI.hooks, ABI.actions
  for _, hook in ipairs(HOOKS) do
    for _, action in ipairs(ACTIONS) do pk.add({ DIRECTION[hook], action, hook }, 0) end
    by.add({ DIRECTION[hook], hook }, 0)
  end
  local rows = 0
  for k, v in stats_map:entries() do
    local p, b = v.packets, v.bytes
    local any = false
    for h, hook in ipairs(HOOKS) do
      local n = 0
      for a, action in ipairs(ACTIONS) do
        local i = (h - 1) * #ACTIONS + a
        if p[i] > 0 then
          pk.add({ DIRECTION[hook], action, hook }, p[i])
          by.add({ DIRECTION[hook], hook }, b[i])
          n = n + p[i]
        end
      end
      if n > 0 then
        any = true
        local ifname = k.key == 0 and "other" or (host.ifname(k.key, NETNS) or ("if" .. k.key))
        runs.add({ hook, ifname }, n)
      end
    end
    if any then rows = rows + 1 end
  end
  pk.write(packets)
  by.write(bytes)
  runs.write(prog_runs)
  return rows
end

local function collect_latency()
  local sums = {}
  for k, v in latency_map:entries() do
    local hook = ABI.hooks[k.key + 1]
    if hook then
      local slots = hist.from_log2(v.slots, v.sum_ns / 1000, v.zero)
      -- Quantiles over the window: per-bucket increases; until the window
      -- has two samples, over everything counted so far.
      local recent, seen = {}, 0
      for s = 1, SLOTS do
        local inc = lat_window:increase(hook .. s, slots[s])
        recent[s] = inc or slots[s]
        seen = seen + recent[s]
      end
      recent[SLOTS + 1] = 0
      local q = {}
      for i, quant in ipairs({ 0.5, 0.95, 0.99 }) do
        q[i] = seen > 0 and hist.quantile(quant, recent, LAT_BOUNDS) or 0 / 0
      end
      latency:set({ hook }, q, v.sum_ns / 1000, v.count)
      local buckets, over = {}, 0
      for s = 1, SLOTS do
        if s <= HIST_BUCKETS then buckets[s] = slots[s] else over = over + slots[s] end
      end
      buckets[HIST_BUCKETS + 1] = over
      latency_hist:set_buckets({ hook }, buckets, v.sum_ns / 1000)
      sums[hook] = v.sum_ns
    end
  end
  return sums
end

local function collect_policy(c)
  for m, name in ipairs(ABI.policy_maps) do
    lookups:set({ name, "hit" }, c.policy_lookups[(m - 1) * 2 + 1])
    lookups:set({ name, "miss" }, c.policy_lookups[(m - 1) * 2 + 2])
  end
  local names = {}
  for k, v in role_names:entries() do
    if v.name ~= "" then names[k.key] = v.name end
  end
  local acc = accumulator()
  for k, v in violations_map:entries() do
    local role = role_label(names[k.role_id] or ("role" .. k.role_id))
    acc.add({ role, "deny", tostring(k.rule_id) }, v.value)
  end
  acc.write(violations)
  policy_entries:set({ "ip_role" }, MAPS.ip_role_map:count())
  policy_entries:set({ "acl_rule" }, MAPS.role_acl_map:count())
end

local SESSION_ERRORS = { "replay_detected", "auth_failure", "decrypt_failure" }
local function collect_sessions()
  local now_ns = bpfex.clock() * 1e9
  local active, pk, er, rot = 0, accumulator(), accumulator(), accumulator()
  local crypto = { replay_detected = 0, auth_failure = 0, decrypt_failure = 0 }
  for k, s in session_map:entries() do
    local t = tunnel_label(tostring(k.key))
    if now_ns - s.last_seen_ns < SESSION_TIMEOUT * 1e9 then active = active + 1 end
    pk.add({ t, "encrypted" }, s.encrypted)
    pk.add({ t, "decrypted" }, s.decrypted)
    for _, e in ipairs(SESSION_ERRORS) do
      er.add({ t, e }, s[e])
      crypto[e] = crypto[e] + s[e]
    end
    rot.add({ t }, s.key_rotations)
  end
  sessions_active:set({}, active)
  pk.write(session_packets)
  er.write(session_errors)
  rot.write(rotations)
  return crypto
end

local function collect_maps(c, stats_rows)
  for name, m in pairs(MAPS) do
    local info = m:info()  -- nil while the map is not there
    if info then
      -- stats_map is an array (every row exists): its entries in use are the
      -- interfaces with traffic.
      local current = name == "stats_map" and stats_rows or info.entries
      map_entries:set({ name, "current" }, current)
      map_entries:set({ name, "max" }, info.max_entries)
      if info.max_entries > 0 then map_usage:set({ name }, current / info.max_entries) end
    end
  end
  local ops = ABI.ops
  for m, name in ipairs(ABI.op_maps) do
    for o, op in ipairs(ops) do map_ops:set({ name, op }, c.map_ops[(m - 1) * #ops + o]) end
  end
end

local PROGRAM_HOOK = { vpn_xdp = "xdp", vpn_tc_ingress = "tc_ingress", vpn_tc_egress = "tc_egress" }
local function collect_programs(latency_sums)
  -- Kernel run time when BPF stats are on (bpf.stats); otherwise the
  -- programs' own measurement (entry to verdict, latency_map's sum).
  local from_kernel = {}
  for _, p in ipairs(bpf.programs()) do
    local hook = p.object == OBJ and PROGRAM_HOOK[p.name]
    if hook and p.stats then
      prog_time:set({ hook }, p.run_time_ns)
      from_kernel[hook] = true
    end
  end
  for hook, ns in pairs(latency_sums) do
    if not from_kernel[hook] then prog_time:set({ hook }, ns) end
  end
end

local IDP_ERROR_KINDS = { "idp_timeout", "idp_unreachable", "idp_http_error", "idp_invalid_answer" }
local function collect_idp(now)
  local st = state.read("idp_sync")
  if type(st) ~= "table" then st = {} end
  idp_syncs:set({ "success" }, st.success or 0)
  idp_syncs:set({ "failure" }, st.failure or 0)
  local counts = {}
  for i = 1, 9 do counts[i] = (st.buckets and st.buckets[i]) or 0 end
  idp_duration:set_buckets({}, counts, st.duration_sum or 0)
  idp_users:set({}, st.users or 0)
  local fresh = st.last_attempt and now - st.last_attempt <= IDP_STALE
  idp_connected:set({}, (fresh and st.connected) and 1 or 0)
  for _, kind in ipairs(IDP_ERROR_KINDS) do
    errors:set({ "idp", kind }, (st.errors and st.errors[kind]) or 0)
  end
end

local function collect_system()
  local p = bpfex.process()
  uptime:set({}, bpfex.uptime())
  restarts:set({}, bpfex.restarts())
  memory:set({ "resident" }, p.resident_bytes)
  memory:set({ "virtual" }, p.virtual_bytes)
  cpu_seconds:set({}, p.cpu_seconds)
  for cpu, pct in pairs(host.cpu_usage()) do cpu_usage:set({ cpu }, pct) end
end

local function collect(t)
  ABI = read_abi()
  local c = nil
  for _, v in counters_map:entries() do c = v end
  local stats_rows = collect_packets()
  collect_programs(collect_latency())
  if c then
    collect_policy(c)
    collect_maps(c, stats_rows)
    local kinds = ABI.dp_errors
    for ci, comp in ipairs(ABI.components) do
      for ei, kind in ipairs(kinds) do errors:set({ comp, kind }, c.errors[(ci - 1) * #kinds + ei]) end
    end
  end
  local crypto = collect_sessions()
  for kind, n in pairs(crypto) do errors:set({ "crypto", kind }, n) end
  collect_idp(t.now)
end

on_tick(function(t)
  -- The daemon's own facts first: they do not depend on the BPF object.
  collect_system()
  local ok, err = pcall(collect, t)
  if not ok then
    rule_errors = rule_errors + 1
    log("vpn_router: collection failed: " .. tostring(err))
  end
  errors:set({ "daemon", "collection_failed" }, rule_errors)
end)
