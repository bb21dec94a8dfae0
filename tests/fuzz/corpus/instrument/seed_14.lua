-- expect: errors runtime
-- The error object's __tostring never returns: nothing in bpfex may call it.
local g = metric.gauge("hostile_g", "x")
on_tick(function()
  g:set({}, 1)
  error(setmetatable({}, { __tostring = function() while true do end end }))
end)
