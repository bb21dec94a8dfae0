#!/usr/bin/env bash
# The bpfex command: version, check, bad input, endpoints, clean shutdown.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$BPFEX" version | grep -q '^bpfex [0-9]' || fail "version output"
pass "version"

# check: a broken config names file:line and the field, exit non-zero.
printf 'listen: 127.0.0.1:1\nhttp:\n  max_connections: -3\n' > "$WORK/bad.yaml"
set +e; out=$("$BPFEX" check --config "$WORK/bad.yaml" 2>&1); rc=$?; set -e
[ $rc -ne 0 ] || fail "check accepted a bad config"
[[ "$out" == *"$WORK/bad.yaml:3:20: http.max_connections"* ]] || fail "check error lacks file:line:field: $out"
pass "check names file:line:field ($out)"

printf 'listen: 127.0.0.1:1\n' > "$WORK/good.yaml"
"$BPFEX" check --config "$WORK/good.yaml" | grep -q 'configuration OK' || fail "check of a good config"
set +e; out=$("$BPFEX" check --config "$WORK/good.yaml" --rules /nonexistent/rules.lua 2>&1); rc=$?; set -e
[ $rc -ne 0 ] && [[ "$out" == *"/nonexistent/rules.lua"* ]] || fail "missing rule path not reported: $out"
set +e; out=$(BPFEX_TICK_INTERVAL=soon "$BPFEX" run 2>&1); rc=$?; set -e
[ $rc -eq 2 ] && [[ "$out" == *"BPFEX_TICK_INTERVAL"* ]] || fail "bad env not reported: rc=$rc $out"
set +e; out=$("$BPFEX" run --listen 127.0.0.1 2>&1); rc=$?; set -e
[ $rc -eq 2 ] && [[ "$out" == *"listen"* ]] || fail "bad --listen not reported: $out"
pass "bad flags, env and rule paths are rejected with the field named"

# check: BPF objects are opened (not loaded, no privileges) and their globals
# and map init entries encoded against the BTF; a mistake names file:line.
cat > "$WORK/bpf.yaml" <<'YML'
bpf:
  objects:
    - name: vpn
      bundled: vpn_router
      globals: {latency: 0}
      init:
        - map: ip_role_map
          entries:
            - {key: {adr: 10.0.0.1}, value: {role_id: 1}}
YML
set +e; out=$("$BPFEX" check --config "$WORK/bpf.yaml" 2>&1); rc=$?; set -e
[ $rc -ne 0 ] && [[ "$out" == *"$WORK/bpf.yaml:9: bpf.objects[0].init[0].entries[0].key: no field named adr"* ]] ||
  fail "bad init entry not reported: $out"
sed -i 's/adr:/addr:/; s/latency: 0/latency: 300/' "$WORK/bpf.yaml"
set +e; out=$("$BPFEX" check --config "$WORK/bpf.yaml" 2>&1); rc=$?; set -e
[ $rc -ne 0 ] && [[ "$out" == *"field latency: 300 does not fit in 1 bytes"* ]] || fail "bad global not reported: $out"
sed -i 's/latency: 300/latency: 0/' "$WORK/bpf.yaml"
"$BPFEX" check --config "$WORK/bpf.yaml" | grep -q 'configuration OK' || fail "check of a good BPF config"
pass "check validates BPF globals and map init entries against the object's BTF"

# run: flags override the file; endpoints answer; SIGTERM stops it cleanly.
P=$(free_port)
printf 'listen: 127.0.0.1:1\ntick_interval: 300ms\n' > "$WORK/run.yaml"
"$BPFEX" run --config "$WORK/run.yaml" --listen 127.0.0.1:$P > "$WORK/run.log" 2>&1 &
pid=$!; _pids+=($pid)
wait_for 10 curl -sf http://127.0.0.1:$P/readyz
grep -q "serving http://127.0.0.1:$P/metrics" "$WORK/run.log" || fail "URL not printed"
curl -sf http://127.0.0.1:$P/healthz | grep -q ok || fail "/healthz"
curl -sf http://127.0.0.1:$P/ | grep -q 'bpfex' || fail "landing page"
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$P/nope)" = 404 ] || fail "404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE http://127.0.0.1:$P/metrics)" = 405 ] || fail "405"
[ "$(curl -s -o /dev/null -w '%{http_code}' -I http://127.0.0.1:$P/metrics)" = 200 ] || fail "HEAD"
t1=$(curl -s http://127.0.0.1:$P/metrics | awk '/^bpfex_ticks_total/ {print $2}')
sleep 1
t2=$(curl -s http://127.0.0.1:$P/metrics | awk '/^bpfex_ticks_total/ {print $2}')
[ "$t2" -gt "$t1" ] || fail "ticks did not advance at 300ms ($t1 -> $t2)"
pass "endpoints, tick interval from the file"

kill -TERM $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && fail "did not stop within 5 s of SIGTERM"
wait $pid && rc=0 || rc=$?
[ $rc -eq 0 ] || fail "exit code $rc after SIGTERM"
grep -q 'stopped' "$WORK/run.log" || fail "no clean-stop log line"
pass "SIGTERM: clean stop, exit 0"
