-- expect: contained
-- The daemon's own files in state_dir are not the rule's to read or write.
local ok = metric.gauge("hostile_contained", "x")
on_tick(function()
  assert(not pcall(state.write, "alerts_for_state", { alerts = {} }))
  assert(not pcall(state.read, "alerts_for_state"))
  assert(not pcall(state.write, "bpfex_starts", {}))
  assert(not pcall(state.write, "../escape", {}))
  ok:set({}, 1)
end)
