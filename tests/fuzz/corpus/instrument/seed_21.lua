-- expect: errors runtime,timeout
local g = metric.gauge("hostile_g", "x")
local t
t = setmetatable({}, {
  __index = function(s, k) return s[k] end,
  __tostring = function(s) return tostring(s) end,
  __concat = function(a, b) return a .. b end,
})
on_tick(function()
  g:set({}, 1)
  local _ = t.x
end)
