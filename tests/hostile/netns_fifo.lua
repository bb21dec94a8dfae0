-- expect: contained
-- A namespace given as a path to a FIFO parked the engine thread in open()
-- for good. Rules name namespaces, never paths; the daemon's own opens of a
-- namespace are non-blocking and refuse what is not a namespace file.
local ok = metric.gauge("hostile_contained", "x")
on_tick(function()
  for _, ns in ipairs({ "/tmp/bpfex-hostile-fifo", "../../tmp/bpfex-hostile-fifo", "/dev/tty", ".." }) do
    local good, err = pcall(host.ifname, 1, ns)
    assert(not good and tostring(err):find("netns must be a name"), tostring(err))
    assert(not pcall(host.interface_up, "lo", ns))
  end
  assert(host.ifname(1, "bpfex-no-such-namespace") == nil)
  ok:set({}, 1)
end)
