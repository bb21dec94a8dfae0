-- expect: refused compile
-- A NUL byte in help text used to cut it short, silently. It is refused at
-- the declaration's line.
metric.gauge("hostile_nul", "before\0after")
on_tick(function() end)
