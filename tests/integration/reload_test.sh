#!/usr/bin/env bash
# Reload at the daemon level: POST /-/reload and SIGHUP, good -> bad -> good,
# series and counters checked at each step; a broken rule never stops serving.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
P=$(free_port)
mkdir -p "$WORK/rules"
cat > "$WORK/rules/r.lua" <<'LUA'
local c = metric.counter("reload_ticks_total", "ticks seen by the rule")
on_tick(function() c:add({}, 1) end)
LUA
"$BPFEX" run --web.enable-lifecycle --listen 127.0.0.1:$P --tick-interval 200ms --rules "$WORK/rules" > "$WORK/bpfex.log" 2>&1 &
pid=$!; _pids+=($pid)
wait_for 10 curl -sf http://127.0.0.1:$P/readyz
val() { curl -s http://127.0.0.1:$P/metrics | awk -v n="$1" '$1 == n {print $2}'; }
sleep 0.6
v1=$(val reload_ticks_total); [ "${v1:-0}" -ge 2 ] || fail "rule not running ($v1)"
[ "$(val bpfex_config_last_reload_successful)" = 1 ] || fail "initial load not successful"

# Bad: a syntax error. The reload answers 500 naming file:line; the old rule keeps counting.
printf 'local c = metric.counter("reload_ticks_total", "x")\non_tick(function() c:add({}, 1)\n' > "$WORK/rules/r.lua"
code=$(curl -s -o "$WORK/resp" -w '%{http_code}' -X POST http://127.0.0.1:$P/-/reload)
[ "$code" = 500 ] || fail "bad reload answered $code"
grep -q "r.lua:3: .end. expected" "$WORK/resp" || fail "reload error lacks file:line: $(cat "$WORK/resp")"
# /metrics shows it from the next tick on.
failed_seen() { [ "$(val bpfex_config_last_reload_successful)" = 0 ]; }
wait_for 5 failed_seen || fail "last_reload_successful not 0"
v2=$(val reload_ticks_total); sleep 0.6; v3=$(val reload_ticks_total)
[ "$v3" -gt "$v2" ] || fail "old rule stopped after a bad reload ($v2 -> $v3)"
curl -s http://127.0.0.1:$P/rules | grep -q '"last_reload_successful": false' || fail "/rules does not show the failed reload"
pass "bad reload: 500 with file:line, old rules keep serving"

# Good again, through SIGHUP: the counter continues, a new series appears.
cat > "$WORK/rules/r.lua" <<'LUA'
local c = metric.counter("reload_ticks_total", "ticks seen by the rule")
local g = metric.gauge("reload_second_version", "present after the second good reload")
on_tick(function() c:add({}, 1); g:set({}, 2) end)
LUA
before=$(val reload_ticks_total)
kill -HUP $pid
ok_again() { [ "$(val bpfex_config_last_reload_successful)" = 1 ] && [ "$(val reload_second_version)" = 2 ]; }
wait_for 10 ok_again || fail "SIGHUP reload did not take"
after=$(val reload_ticks_total)
[ "$after" -ge "$before" ] || fail "counter reset across reload ($before -> $after)"
pass "SIGHUP reload: counter carried on ($before -> $after), new series served"

# A runaway rule next to a good one: the good one keeps serving, the runaway is counted.
cat > "$WORK/rules/z_runaway.lua" <<'LUA'
local g = metric.gauge("runaway_g", "x")
on_tick(function() local x = 0 while true do x = x + 1 end end)
LUA
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:$P/-/reload)
[ "$code" = 200 ] || fail "reload with a runaway rule answered $code"
sleep 1
m=$(curl -s http://127.0.0.1:$P/metrics)
grep -q 'bpfex_rule_errors_total{rule="[^"]*z_runaway.lua",kind="timeout"}' <<<"$m" || fail "runaway not counted"
v4=$(val reload_ticks_total); sleep 0.5; v5=$(val reload_ticks_total)
[ "$v5" -gt "$v4" ] || fail "good rule starved by the runaway"
kill -0 $pid || fail "daemon died"
pass "runaway rule: counted as timeout, the good rule keeps running"
