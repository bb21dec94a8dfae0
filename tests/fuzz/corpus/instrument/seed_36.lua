-- expect: refused timeout
while true do end
