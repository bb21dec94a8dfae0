-- expect: refused compile
metric.gauge("process_open_fds", "mine")
