-- expect: errors runtime
local g = metric.gauge("hostile_g", "x")
local function f()
  local ok, err = coroutine.resume(coroutine.create(f))
  if not ok then error(err, 0) end
end
on_tick(function() g:set({}, 1); f() end)
