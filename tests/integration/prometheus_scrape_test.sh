#!/usr/bin/env bash
# Real Prometheus (Debian's) scrapes `bpfex run` on loopback: up == 1, the
# expected series arrive, and promtool accepts what bpfex serves, in both formats.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v prometheus >/dev/null || { echo "SKIPPED: prometheus is not installed (tools/test.sh installs it)"; exit 77; }

# The first scrape gets the format it asks for: a daemon that ticks once an
# hour renders OpenMetrics (and gzip) for the first client that wants it.
FP=$(free_port)
bg first "$BPFEX" run --listen 127.0.0.1:$FP --tick-interval 1h
wait_for 10 curl -sf http://127.0.0.1:$FP/readyz
ct=$(curl -s -o "$WORK/first.txt" -w '%{content_type}' \
  -H 'Accept: application/openmetrics-text;version=1.0.0' http://127.0.0.1:$FP/metrics)
[[ "$ct" == application/openmetrics-text* ]] || fail "first OpenMetrics scrape got $ct"
[ "$(tail -n1 "$WORK/first.txt")" = "# EOF" ] || fail "first OpenMetrics scrape is not OpenMetrics"
enc=$(curl -s -o "$WORK/first.gz" -w '%{header_json}' -H 'Accept-Encoding: gzip' http://127.0.0.1:$FP/metrics |
  python3 -c 'import json,sys; print(json.load(sys.stdin).get("content-encoding", [""])[0])')
[ "$enc" = gzip ] && gzip -t "$WORK/first.gz" || fail "first gzip scrape was not gzipped ($enc)"
ticks=$(curl -sf http://127.0.0.1:$FP/metrics | awk '$1 == "bpfex_ticks_total" {print $2}')
[ "$ticks" = 0 ] || fail "the late variants were not rendered from the first tick (ticks_total $ticks; it counts ticks finished before the render)"
pass "the first scrape gets OpenMetrics and gzip, rendered for it between ticks"

BP=$(free_port); PP=$(free_port)
bg bpfex "$BPFEX" run --listen 127.0.0.1:$BP --tick-interval 1s
wait_for 10 curl -sf http://127.0.0.1:$BP/readyz

cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: bpfex
    static_configs:
      - targets: ['127.0.0.1:$BP']
YML
bg prometheus prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address=127.0.0.1:$PP
wait_for 30 curl -sf http://127.0.0.1:$PP/-/ready

# query EXPR -> prints the first sample's value, or nothing
query() {
  curl -sf --get --data-urlencode "query=$1" http://127.0.0.1:$PP/api/v1/query |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
up_is_1() { [ "$(query 'up{job="bpfex"}')" = "1" ]; }
wait_for 30 up_is_1 || fail "up{job=bpfex} never became 1"
pass "prometheus scrapes bpfex: up == 1"

for s in 'bpfex_build_info' 'process_cpu_seconds_total' 'process_resident_memory_bytes' \
         'process_open_fds' 'process_start_time_seconds' 'bpfex_ticks_total' \
         'bpfex_tick_duration_seconds_count' 'bpfex_registry_series'; do
  v=$(query "$s{job=\"bpfex\"}")
  [ -n "$v" ] || fail "series $s missing in Prometheus"
done
pass "expected series present"

# Prometheus 2.42 asks for OpenMetrics with gzip; the scrape counter counts them.
scraped() { v=$(query 'bpfex_scrape_duration_seconds_count{job="bpfex"}'); [ -n "$v" ] && [ "${v%.*}" -ge 2 ]; }
wait_for 20 scraped || fail "bpfex_scrape_duration_seconds_count did not count Prometheus' scrapes"
# Prometheus' demand (OpenMetrics, gzip) is now rendered every tick.
om=$(curl -s --compressed -o "$WORK/om.txt" -w '%{content_type}' \
  -H 'Accept: application/openmetrics-text;version=1.0.0' http://127.0.0.1:$BP/metrics)
[[ "$om" == application/openmetrics-text* ]] || fail "OpenMetrics+gzip not served after demand (got $om)"
[ "$(tail -n1 "$WORK/om.txt")" = "# EOF" ] || fail "OpenMetrics body does not end in # EOF"
pass "scrapes counted; OpenMetrics served gzipped, ending in # EOF"

# Every sample served was ingested: what Prometheus scraped equals the line count.
n=$(query 'scrape_samples_scraped{job="bpfex"}')
[ -n "$n" ] && [ "${n%.*}" -ge 40 ] || fail "Prometheus ingested only '$n' samples per scrape"
pass "Prometheus ingests ${n%.*} samples per scrape"

curl -sf http://127.0.0.1:$BP/metrics > "$WORK/metrics.txt"
promtool check metrics < "$WORK/metrics.txt" || fail "promtool check metrics rejected the text exposition"
pass "promtool check metrics passes"
