-- IDP user sync (seed 000's IDP group), as a push job:
--   bpfex push --gateway URL --job idp_sync --param idp_url=https://idp/api/users rules/jobs/idp_sync.lua
-- Fetches the user list (a JSON array, or an object with a "users" array),
-- counts the users, and records the sync's outcome and duration. Counters and
-- the histogram continue from the values the gateway holds (bpfex push
-- preloads them), so they count across runs.
--
-- Parameters: idp_url (required), idp_timeout (seconds, default 10).
--
-- With --state-dir DIR (the daemon's state_dir), the job also keeps its
-- totals in DIR/idp_sync.json, which rules/vpn_router.lua serves on the
-- daemon's /metrics: the IDP group is then on every node's scrape too, and
-- the daemon marks the IDP disconnected when the job stops running.
local syncs = metric.counter("vpn_idp_sync_total", "IDP synchronisations by outcome", { "status" })
local BOUNDS = { 0.1, 0.25, 0.5, 1, 2, 5, 10, 30 }
local duration = metric.histogram("vpn_idp_sync_duration_seconds", "IDP synchronisation time", {}, BOUNDS)
local users = metric.gauge("vpn_idp_users_synced", "Users fetched by the last synchronisation")
local connected = metric.gauge("vpn_idp_connected", "IDP connection state (1 connected, 0 disconnected)")

job.run(function()
  local url = params.idp_url
  if not url then job.fail("parameter idp_url is required (--param idp_url=...)") end
  local t0 = bpfex.clock()
  local status, body = http.get(url, tonumber(params.idp_timeout or "10"))
  local list, why, kind = nil, nil, nil
  if status == 200 then
    local ok, decoded = pcall(json.decode, body)
    if ok and type(decoded) == "table" then
      list = decoded.users or decoded
      if type(list) ~= "table" then list, why = nil, "no user list in the answer" end
    else
      why = "the answer is not JSON"
    end
    if not list then kind = "idp_invalid_answer" end
  elseif status then
    why, kind = "HTTP " .. status, "idp_http_error"
  else
    why = body
    kind = tostring(body):lower():find("time") and "idp_timeout" or "idp_unreachable"
  end
  local took = bpfex.clock() - t0
  duration:observe({}, took)
  -- Both outcome series always exist, so rate() sees the first failure.
  syncs:add({ "success" }, 0)
  syncs:add({ "failure" }, 0)
  local st = state.read("idp_sync") or {}
  -- Per-bucket (not cumulative) counts, the last one +Inf: what the
  -- daemon's histogram:set_buckets takes.
  st.buckets = st.buckets or {}
  local b = #BOUNDS + 1
  for i = #BOUNDS, 1, -1 do
    if took <= BOUNDS[i] then b = i end
  end
  for i = 1, #BOUNDS + 1 do st.buckets[i] = (st.buckets[i] or 0) + (i == b and 1 or 0) end
  st.duration_sum = (st.duration_sum or 0) + took
  st.last_attempt = bpfex.now()
  st.errors = st.errors or {}
  if list then
    local n = 0
    for _, u in ipairs(list) do
      if type(u) == "table" then n = n + 1 end
    end
    syncs:add({ "success" }, 1)
    users:set({}, n)
    connected:set({}, 1)
    st.success, st.users, st.connected = (st.success or 0) + 1, n, true
  else
    st.failure, st.connected = (st.failure or 0) + 1, false
    st.errors[kind] = (st.errors[kind] or 0) + 1
  end
  -- Without --state-dir this is a no-op that says why; the push still goes.
  state.write("idp_sync", st)
  if not list then
    syncs:add({ "failure" }, 1)
    connected:set({}, 0)
    job.failed("IDP sync from " .. url .. " failed: " .. tostring(why))
  end
end)
