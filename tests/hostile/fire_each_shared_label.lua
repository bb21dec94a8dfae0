-- expect: errors memory
-- 100k samples sharing one 8 KiB label: Lua holds the label once, but every
-- firing was copied into the run's list, the alert set, ALERTS and the
-- status documents (1.5-1.95 GiB). What a firing will take is charged to
-- the rule's memory cap as it fires now.
local hot = alert{ name = "Hot" }
local label = string.rep("l", 8192)
on_tick(function()
  local v = {}
  for i = 1, 100000 do v[i] = { labels = { big = label, i = tostring(i) }, value = 1 } end
  hot:fire_each(v)
end)
