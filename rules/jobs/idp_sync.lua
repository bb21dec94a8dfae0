-- IDP user sync (seed 000's IDP group), as a push job:
--   bpfex push --gateway URL --job idp_sync --param idp_url=https://idp/api/users rules/jobs/idp_sync.lua
-- Fetches the user list (a JSON array, or an object with a "users" array),
-- counts the users, and records the sync's outcome and duration. Counters and
-- the histogram continue from the values the gateway holds (bpfex push
-- preloads them), so they count across runs.
--
-- Parameters: idp_url (required), idp_timeout (seconds, default 10).
local syncs = metric.counter("vpn_idp_sync_total", "IDP synchronisations by outcome", { "status" })
local duration = metric.histogram("vpn_idp_sync_duration_seconds", "IDP synchronisation time", {},
  { 0.1, 0.25, 0.5, 1, 2, 5, 10, 30 })
local users = metric.gauge("vpn_idp_users_synced", "Users fetched by the last synchronisation")
local connected = metric.gauge("vpn_idp_connected", "IDP connection state (1 connected, 0 disconnected)")

job.run(function()
  local url = params.idp_url
  if not url then job.fail("parameter idp_url is required (--param idp_url=...)") end
  local t0 = bpfex.clock()
  local status, body = http.get(url, tonumber(params.idp_timeout or "10"))
  local list, why = nil, nil
  if status == 200 then
    local ok, decoded = pcall(json.decode, body)
    if ok and type(decoded) == "table" then
      list = decoded.users or decoded
      if type(list) ~= "table" then list, why = nil, "no user list in the answer" end
    else
      why = "the answer is not JSON"
    end
  else
    why = status and ("HTTP " .. status) or body
  end
  duration:observe({}, bpfex.clock() - t0)
  -- Both outcome series always exist, so rate() sees the first failure.
  syncs:add({ "success" }, 0)
  syncs:add({ "failure" }, 0)
  if list then
    local n = 0
    for _, u in ipairs(list) do
      if type(u) == "table" then n = n + 1 end
    end
    syncs:add({ "success" }, 1)
    users:set({}, n)
    connected:set({}, 1)
  else
    syncs:add({ "failure" }, 1)
    connected:set({}, 0)
    job.failed("IDP sync from " .. url .. " failed: " .. tostring(why))
  end
end)
