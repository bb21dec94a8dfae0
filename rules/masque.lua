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

-- Per-bucket counts (the last +Inf) added into acc, for summing clients.
local function add_hist(acc, h, width)
  acc.sum = (acc.sum or 0) + n(h.sum_ns) / 1e9
  acc.counts = acc.counts or {}
  for i = 1, width + 1 do acc.counts[i] = (acc.counts[i] or 0) + n(h.buckets[i]) end
end

-- The client table: address -> client_id label (capped), and each label's
-- per-client values summed (several slots may share "other").
local function client_table()
  local by_addr, per, distinct = {}, {}, 0
  for _, c in clients:entries() do
    if n(c.in_use) == 1 and c.client_id ~= "" then
      local id = c.client_id
      if not per[id] then
        if distinct >= MAX_CLIENTS then id = "other" else distinct = distinct + 1 end
      end
      by_addr[n(c.addr)] = id
      local p = per[id] or { conn = {}, stream = {}, bidi = 0, uni = 0 }
      per[id] = p
      add_hist(p.conn, { buckets = c["connection_duration.buckets"], sum_ns = c["connection_duration.sum_ns"] }, #SLOW)
      add_hist(p.stream, { buckets = c["stream_duration.buckets"], sum_ns = c["stream_duration.sum_ns"] }, #SLOW)
      p.bidi = p.bidi + n(c.streams_bidirectional)
      p.uni = p.uni + n(c.streams_unidirectional)
    end
  end
  return by_addr, per
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

  local by_addr, per = client_table()
  for id, p in pairs(per) do
    conn_duration:set_buckets({ id }, p.conn.counts, p.conn.sum)
    stream_duration:set_buckets({ id }, p.stream.counts, p.stream.sum)
    streams:set({ id, "bidirectional" }, p.bidi)
    streams:set({ id, "unidirectional" }, p.uni)
  end
  -- Per-address traffic, summed per client_id label; addresses of the pool
  -- that no client holds now are "unassigned".
  local sent, received = {}, {}
  for k, c in traffic:entries() do
    local id = by_addr[n(k.addr)] or "unassigned"
    local side = k.hook == "BPFEX_HOOK_TC_EGRESS" and sent or received
    local s = side[id] or { packets = 0, bytes = 0 }
    side[id] = s
    s.packets, s.bytes = s.packets + n(c.packets), s.bytes + n(c.bytes)
  end
  for id, s in pairs(sent) do
    packets_sent:set({ id }, s.packets)
    bytes_sent:set({ id }, s.bytes)
  end
  for id, s in pairs(received) do
    packets_received:set({ id }, s.packets)
    bytes_received:set({ id }, s.bytes)
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
