-- expect: contained
-- A daemon rule reaching for the push-job APIs: http.get would make the
-- daemon an HTTP client for whoever writes rules, fs.read/fs.walk would read
-- any file the daemon can. They exist only in push jobs' environments;
-- here they are stubs that name why, and cannot be replaced.
local g = metric.gauge("hostile_contained", "1 when every door held")
on_tick(function()
  for _, call in ipairs({
    function() return http.get("http://127.0.0.1:1/") end,
    function() return fs.read("/etc/shadow") end,
    function() return fs.walk("/") end,
    function() return job.failed("x") end,
    function() return job.run(function() end) end,
  }) do
    local ok, err = pcall(call)
    assert(not ok and tostring(err):find("available to push jobs only"), tostring(err))
  end
  assert(not pcall(function() http.get = function() end end))
  g:set({}, 1)
end)
