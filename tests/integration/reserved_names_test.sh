#!/usr/bin/env bash
# Every family bpfex serves of its own, with every feature that registers
# self-metrics turned on (alerting, push, the HTTP guard, rules, state), is a
# name no rule may claim: `bpfex check` refuses a rule declaring it, naming
# the file. Self-metrics added later are covered without touching this test.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WORK"
P=$(free_port); DEAD=$(free_port)
mkdir rules
cat > rules/r.lua <<'LUA'
local g = metric.gauge("reserved_test_rule_g", "a rule's own family")
local a = alert{ name = "ReservedTestAlert" }
on_tick(function() g:set({}, 1); a:fire({}, 1) end)
LUA
cat > bpfex.yaml <<YML
alerting:
  alertmanagers: ["http://127.0.0.1:$DEAD"]
  timeout: 200ms
push:
  gateway: http://127.0.0.1:$DEAD
  job: reserved
  interval: 1s
  timeout: 200ms
YML
printf 'http_server_config:\n  headers: {X-Frame-Options: deny}\n' > web.yml
bg bpfex "$BPFEX" run --config bpfex.yaml --listen 127.0.0.1:$P --tick-interval 500ms --rules rules \
  --state-dir state --web.config.file web.yml
wait_for 10 curl -sf http://127.0.0.1:$P/readyz
sleep 1.5  # the alert fires (ALERTS), pushes and deliveries fail (their counters)
curl -sf http://127.0.0.1:$P/metrics > metrics.txt
families=$(awk '$1 == "#" && $2 == "TYPE" {print $3}' metrics.txt | grep -v '^reserved_test_rule_g$' | sort -u)
n=0
for f in $families; do
  n=$((n + 1))
  case "$f" in *_total) kind=counter ;; *) kind=gauge ;; esac
  printf 'metric.%s("%s", "claimed")\n' "$kind" "$f" > claim.lua
  if "$BPFEX" check --rules claim.lua 2> err.txt; then fail "a rule may declare bpfex's own family $f"; fi
  grep -q "claim.lua:1: metric $f is reserved" err.txt || fail "refusal of $f does not name the file and line: $(cat err.txt)"
done
[ $n -ge 30 ] || fail "only $n self-metric families served; the daemon did not turn every feature on"
for f in ALERTS ALERTS_FOR_STATE bpfex_http_refused_total bpfex_notifications_errors_total bpfex_push_total; do
  grep -q "^# TYPE $f " metrics.txt || fail "$f is not served: the test no longer covers its feature"
done
pass "all $n families bpfex serves of its own are refused to rules, with file:line"
