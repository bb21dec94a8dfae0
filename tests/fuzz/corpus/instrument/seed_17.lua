-- expect: contained
-- Handles are userdata with hidden metatables; methods refuse anything else.
local ok = metric.gauge("hostile_contained", "x")
local m = bpf.map("nothing/here")
local w = window("1m")
local a = alert{ name = "HostileForgery" }
for _, h in ipairs({ m, w, a, ok }) do
  assert(type(h) == "userdata", "a handle is a " .. type(h))
  assert(getmetatable(h) == false, "a handle's metatable is visible")
end
-- A forged self whose name changes between reads (the old map proxy read
-- self.name twice: one map's buffer, another's layout).
local names = { "a/x", "b/y" }
local forged = setmetatable({}, { __index = function() return table.remove(names, 1) end })
assert(not pcall(m.entries, forged))
assert(not pcall(m.count, {}))
assert(not pcall(w.rate, {}, "k", 1))
assert(not pcall(a.fire, {}, {}))
assert(not pcall(ok.set, w, {}, 1))
on_tick(function()
  assert(not pcall(m.entries, forged))
  assert(not pcall(w.rate, a, "k", 1))
  ok:set({}, 1)
end)
