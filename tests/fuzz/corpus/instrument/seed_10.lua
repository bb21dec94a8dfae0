-- expect: refused limit
for i = 1, 200000 do alert{ name = "Hostile" .. i } end
