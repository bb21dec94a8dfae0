-- expect: refused compile
-- bpfex registers this one only after rules load (the HTTP collector).
local m = metric.counter("bpfex_http_requests_total", "mine", { "handler", "code" })
on_tick(function() m:add({ "x", "200" }, 1) end)
