-- masque-vpn (seed 002): its whole metric catalog, the seed's 19 families
-- with their names, types, labels and declared buckets.
--
-- Where each comes from:
--   bytes/packets sent and received   the bundled addr_traffic program on the
--   per client_id                     server's tunnel interface (TC ingress:
--                                     from a client's address; egress: to it),
--                                     joined with the server's address ->
--                                     client_id table (masque_clients)
--   tun_interface_status              the tunnel interface's link state
--   everything else                   the server's counter region
--                                     (bpf/include/masque_counters.h)
--
-- Parameters (config rule_params):
--   masque_tun           the tunnel interface (default "mtun0")
--   masque_netns         its network namespace (default: bpfex's own)
--   masque_traffic       the per-address traffic map (default "masque_tun/bpfex_addr_stats")
--   masque_counters      the counter region (default "masque_app/masque_counters")
--   masque_clients       the client table (default "masque_app/masque_clients")
--   masque_max_clients   client_id label values at most (default 100); the
--                        rest are summed under client_id="other", as seed
--                        000 caps its tunnels
local TUN = params.masque_tun or "mtun0"
local NETNS = params.masque_netns
local MAX_CLIENTS = tonumber(params.masque_max_clients or "100")
local ABI = 2  -- MASQUE_COUNTERS_ABI
local FAST = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0 }               -- seconds
local SLOW = { 1, 5, 10, 30, 60, 300, 600, 1800, 3600 }

-- Connection metrics
local active = metric.gauge("masque_vpn_active_connections", "Current number of active VPN connections")
-- Two of the seed's counters are named without _total, as its Go server
-- names them: total = false keeps the names (lua-api.md).
local total = metric.counter{ name = "masque_vpn_total_connections", total = false,
  help = "Total number of connections established since startup" }
local conn_duration = metric.histogram("masque_vpn_connection_duration_seconds", "Duration of connections in seconds",
  { "client_id" }, SLOW)
-- Traffic metrics
local bytes_sent = metric.counter("masque_vpn_bytes_sent_total", "Total bytes sent to clients", { "client_id" })
local bytes_received = metric.counter("masque_vpn_bytes_received_total", "Total bytes received from clients",
  { "client_id" })
local packets_sent = metric.counter("masque_vpn_packets_sent_total", "Total packets sent to clients", { "client_id" })
local packets_received = metric.counter("masque_vpn_packets_received_total", "Total packets received from clients",
  { "client_id" })
-- Performance metrics
local processing = metric.histogram("masque_vpn_packet_processing_duration_seconds", "Time spent processing packets",
  { "direction" }, FAST)
local stream_duration = metric.histogram("masque_vpn_quic_stream_duration_seconds", "Duration of QUIC streams",
  { "client_id" }, SLOW)
local request_duration = metric.histogram("masque_vpn_masque_request_duration_seconds",
  "Time to process MASQUE CONNECT-IP requests", { "method" }, FAST)
-- Resource metrics
local pool_total = metric.gauge("masque_vpn_ip_pool_total", "Total number of IP addresses in pool")
local pool_used = metric.gauge("masque_vpn_ip_pool_used", "Number of IP addresses currently assigned")
local pool_available = metric.gauge("masque_vpn_ip_pool_available", "Number of available IP addresses in pool")
-- System metrics
local tun_status = metric.gauge("masque_vpn_tun_interface_status", "TUN interface status (1=active, 0=inactive)")
local uptime = metric.counter{ name = "masque_vpn_server_uptime_seconds", total = false,
  help = "Server uptime in seconds" }
local server_up = metric.gauge("masque_vpn_server_up",
  "1 while the masque-vpn server runs (its region's heartbeat), 0 once it stopped or died")
-- Error metrics
local errors = metric.counter("masque_vpn_errors_total", "Total number of errors by type", { "error_type" })
local drops = metric.counter("masque_vpn_packet_drops_total", "Total number of dropped packets", { "reason" })
-- MASQUE protocol metrics
local requests = metric.counter("masque_vpn_masque_requests_total", "Total MASQUE CONNECT-IP requests",
  { "method", "status" })
local streams = metric.counter("masque_vpn_quic_streams_total", "Total QUIC streams created",
  { "client_id", "stream_type" })

local traffic = bpf.map(params.masque_traffic or "masque_tun/bpfex_addr_stats")
local counters = bpf.map(params.masque_counters or "masque_app/masque_counters")
local clients = bpf.map(params.masque_clients or "masque_app/masque_clients")

local function n(v) return tonumber(v) or 0 end

-- Counters through churn (carry, docs/lua-api.md): what each address and
-- each pool slot adds between ticks goes to its holder's client_id now, so no
-- per-client counter ever goes down, a reused address or slot starts from
-- zero for its new holder, a departed client's series end, and "other" (the
-- clients past the cap) and "unassigned" only grow.
local rx, tx, slots = carry.new(), carry.new(), carry.new()
local W = #SLOW + 1  -- buckets per histogram, the last +Inf

-- The client table: address -> client_id label (capped), each slot's
-- histograms and stream counts carried to its label.
local function client_table()
  local by_addr, distinct, labelled, slot = {}, 0, {}, -1
  for _, c in clients:entries() do  -- an array: every slot, in order
    slot = slot + 1
    if n(c.in_use) == 1 and c.client_id ~= "" then
      local id = c.client_id
      if not labelled[id] then
        if distinct >= MAX_CLIENTS then id = "other" else distinct = distinct + 1; labelled[id] = true end
      end
      by_addr[n(c.addr)] = id
      local v = {}
      local cb, sb = c["connection_duration.buckets"], c["stream_duration.buckets"]
      for i = 1, W do v[i], v[W + 1 + i] = n(cb[i]), n(sb[i]) end
      v[W + 1], v[2 * W + 2] = n(c["connection_duration.sum_ns"]), n(c["stream_duration.sum_ns"])
      v[2 * W + 3], v[2 * W + 4] = n(c.streams_bidirectional), n(c.streams_unidirectional)
      slots:feed(slot .. "/" .. c.client_id, id, v)
    end
  end
  return by_addr
end

local warned
on_tick(function(t)
  local up = host.interface_up(TUN, NETNS)
  tun_status:set({}, up and 1 or 0)

  local v
  for _, e in counters:entries() do v = e end
  if not v or n(v.abi) ~= ABI then
    if v and n(v.abi) ~= 0 and not warned then
      log("masque counter region: abi " .. tostring(v.abi) .. ", this rule reads abi " .. ABI)
      warned = true
    end
    return  -- no server yet (or one this rule cannot read): the link state only
  end

  local by_addr = client_table()
  for id, v in slots:totals() do
    local conn, stream = {}, {}
    for i = 1, W do conn[i], stream[i] = v[i], v[W + 1 + i] end
    conn_duration:set_buckets({ id }, conn, v[W + 1] / 1e9)
    stream_duration:set_buckets({ id }, stream, v[2 * W + 2] / 1e9)
    streams:set({ id, "bidirectional" }, v[2 * W + 3])
    streams:set({ id, "unidirectional" }, v[2 * W + 4])
  end
  -- Per-address traffic, carried to the client_id holding the address now;
  -- addresses of the pool that no client holds are "unassigned".
  for k, c in traffic:entries() do
    local id = by_addr[n(k.addr)] or "unassigned"
    local side = k.hook == "BPFEX_HOOK_TC_EGRESS" and tx or rx
    side:feed(n(k.addr), id, { n(c.packets), n(c.bytes) })
  end
  for id, v in tx:totals() do
    packets_sent:set({ id }, v[1])
    bytes_sent:set({ id }, v[2])
  end
  for id, v in rx:totals() do
    packets_received:set({ id }, v[1])
    bytes_received:set({ id }, v[2])
  end

  -- Liveness (bpf/include/bpfex_liveness.h): a server that stopped or died
  -- is down; its gauges and uptime stop, its counters stay.
  local alive = region.alive(v, t.now)
  if alive ~= nil then server_up:set({}, alive and 1 or 0) end
  total:set({}, n(v.total_connections))
  for _, dir in ipairs({ "inbound", "outbound" }) do
    processing:set_buckets({ dir }, v["processing_" .. dir .. ".buckets"], n(v["processing_" .. dir .. ".sum_ns"]) / 1e9)
  end
  request_duration:set_buckets({ "CONNECT" }, v["connect_request.buckets"], n(v["connect_request.sum_ns"]) / 1e9)
  requests:set({ "CONNECT", "success" }, n(v["connect_requests.success"]))
  requests:set({ "CONNECT", "failed" }, n(v["connect_requests.failed"]))
  for _, e in ipairs({ "connection", "packet", "auth", "tun", "masque" }) do errors:set({ e }, n(v["errors." .. e])) end
  for _, r in ipairs({ "invalid", "oversized", "processing_error" }) do drops:set({ r }, n(v["drops." .. r])) end
  if alive ~= false then
    active:set({}, n(v.active_connections))
    local pool, used = n(v.ip_pool_total), n(v.ip_pool_used)
    pool_total:set({}, pool)
    pool_used:set({}, used)
    pool_available:set({}, math.max(0, pool - used))
    uptime:set({}, math.max(0, t.now - n(v.start_time_ns) / 1e9))
  end
end)
