-- expect: errors memory
-- An annotation repeating {{ $labels.k }} 20,000 times, fired with a 64 KiB
-- label, expanded to 1.3 GB per evaluation outside the rule. Its expansion
-- is charged to the rule's memory cap when it fires now.
local hot = alert{ name = "Hot", annotations = { summary = string.rep("{{ $labels.k }}", 20000) } }
local k = string.rep("k", 65536)
on_tick(function() hot:fire({ k = k }, 1) end)
