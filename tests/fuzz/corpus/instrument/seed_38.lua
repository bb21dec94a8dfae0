-- expect: refused timeout
-- Swallows the budget error of the inner loop, forever.
while true do pcall(function() while true do end end) end
