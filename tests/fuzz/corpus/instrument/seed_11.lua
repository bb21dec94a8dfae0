-- expect: refused limit
for i = 1, 200000 do metric.gauge("hostile_g" .. i, "x") end
