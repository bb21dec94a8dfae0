-- expect: refused compile
-- Not a self-metric today: the whole prefix is reserved.
metric.gauge("bpfex_something_new", "mine")
