-- expect: refused memory,timeout
for i = 1, 1e8 do on_tick(function() end) end
