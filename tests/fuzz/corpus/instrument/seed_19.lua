-- expect: contained
-- log() is capped per run (50 lines of at most 4 KiB); the rest is counted
-- in one line when the run ends.
local ok = metric.gauge("hostile_contained", "x")
local line = string.rep("flood ", 2000)
on_tick(function()
  for i = 1, 20000 do log(line) end
  ok:set({}, 1)
end)
