-- Runs inside the real rule sandbox: what a rule must not reach is not there.
local ticks = metric.gauge("lua_test_ticks", "ticks this test ran")
local n = 0

-- Checked at load time too: the top level runs in the same environment.
assert(io == nil, "io is reachable")
assert(require == nil, "require is reachable")
assert(load == nil and loadstring == nil and dofile == nil and loadfile == nil, "load* is reachable")
assert(debug == nil, "debug is reachable")
assert(ffi == nil, "ffi is reachable")
assert(package == nil, "package is reachable")
assert(setfenv == nil and getfenv == nil, "fenv functions are reachable")
assert(os.execute == nil and os.exit == nil and os.remove == nil and os.getenv == nil, "os is too open")
assert(string.dump == nil, "string.dump is reachable")
assert(jit == nil, "the jit module is reachable")
assert(_G.io == nil and _G == _G._G, "_G is the rule's own environment")
assert(not pcall(collectgarbage, "stop"), "collectgarbage may only count")
assert(type(collectgarbage("count")) == "number")
-- The proxies do not hand out their metatables.
assert(getmetatable(bpf.map("x/y")) == false)

on_tick(function(t)
  assert(type(t.tick) == "number" and type(t.now) == "number")
  -- Globals a rule sets stay its own.
  leaked_global = 1
  n = n + 1
  ticks:set({}, n)
end)
