-- expect: refused compile
metric.gauge("up", "Prometheus adds this series to every scrape")
