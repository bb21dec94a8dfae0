#!/usr/bin/env bash
# bpfex push against the real Pushgateway (Debian's), read back through the
# gateway's own API: PUT/POST/DELETE semantics, grouping values that need
# encoding, a gateway that is down or hangs, a type clash, failed jobs, and
# the bundled IDP sync job.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v prometheus-pushgateway >/dev/null || { echo "SKIPPED: prometheus-pushgateway is not installed"; exit 77; }
G=$(free_port)
# Debian's build persists to /var/lib/prometheus/pushgateway.data by default:
# this test's gateway gets its own file, so runs never see each other.
bg pushgateway prometheus-pushgateway --web.listen-address=127.0.0.1:$G --persistence.file="$WORK/pushgateway.data"
wait_for 10 curl -sf http://127.0.0.1:$G/-/ready
GW=http://127.0.0.1:$G
push() { "$BPFEX" push --gateway "$GW" "$@"; }

# names JOB [k=v...] -> the metric names the gateway holds for that exact group
names() {
  curl -s $GW/api/v1/metrics | python3 -c '
import json, sys
want = {"job": sys.argv[1]}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1); want[k] = v
for g in json.load(sys.stdin)["data"]:
    if g["labels"] == want:
        print(" ".join(sorted(k for k in g if k not in ("labels", "last_push_successful"))))
' "$@"
}
# value NAME JOB -> the value of an unlabelled metric in the group job=JOB
value() { curl -s $GW/metrics | awk -v n="$1" -v j="job=\"$2\"" 'index($0, n "{") == 1 && index($0, j) {print $2}'; }

printf '# TYPE a gauge\na 1\n# TYPE b gauge\nb 2\n' > "$WORK/ab.prom"
printf '# TYPE b gauge\nb 3\n' > "$WORK/b.prom"
printf '# TYPE c gauge\nc 4\n' > "$WORK/c.prom"

# PUT replaces the group; POST (--add) replaces only the names pushed; DELETE removes it.
push --job sem "$WORK/ab.prom"
[[ "$(names sem)" == "a b bpfex_job_"*"push_failure_time_seconds push_time_seconds" ]] || fail "PUT: $(names sem)"
push --job sem --add "$WORK/b.prom"
[ "$(value b sem)" = 3 ] && [ "$(value a sem)" = 1 ] || fail "POST must keep a and replace b (a=$(value a sem) b=$(value b sem))"
push --job sem "$WORK/c.prom"
[ -z "$(value a sem)" ] && [ "$(value c sem)" = 4 ] || fail "PUT must replace the whole group"
push --job sem --delete
[ -z "$(names sem)" ] || fail "DELETE left: $(names sem)"
pass "PUT replaces the group, POST the pushed names, DELETE the group"

# Grouping values with a space, a slash, unicode and the empty string arrive exactly.
push --job "nightly scan" --label "path=/var/tmp" --label "team=sé cu" --label "empty=" "$WORK/c.prom"
[ -n "$(names "nightly scan" "path=/var/tmp" "team=sé cu" "empty=")" ] || fail "grouping key did not round-trip: $(curl -s $GW/api/v1/metrics | head -c 400)"
pass "grouping values: space, slash (base64), unicode, empty"

# Invalid input: line-numbered error, exit 2, the failure still pushed.
set +e; out=$(printf '# TYPE x gauge\nx{a="1"} 1 1700000000000\n' | push --job badinput - 2>&1); rc=$?; set -e
[ $rc = 2 ] && [[ "$out" == *"stdin:2: pushed metrics must not have timestamps"* ]] || fail "timestamp input: rc=$rc $out"
[ "$(value bpfex_job_success badinput)" = 0 ] || fail "failure not pushed for invalid input"
pass "invalid input: stdin:2 named, exit 2, failure pushed"

# A type clash with another group: the gateway's 400, verbatim, exit 1.
printf '# TYPE c counter\nc 1\n' > "$WORK/c_counter.prom"
set +e; out=$(push --job clash "$WORK/c_counter.prom" 2>&1); rc=$?; set -e
[ $rc = 1 ] && [[ "$out" == *"answered 400"*"is not a"* ]] || fail "type clash: rc=$rc $out"
pass "type clash: 400 surfaced verbatim"

# Gateway down: a clear error within the timeout.
DOWN=$(free_port)
start=$(date +%s%N)
set +e; out=$("$BPFEX" push --gateway http://127.0.0.1:$DOWN --job j --timeout 2s --retries 1 "$WORK/c.prom" 2>&1); rc=$?; set -e
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc = 1 ] && [[ "$out" == *"Couldn't connect"* ]] && [ $ms -lt 6000 ] || fail "gateway down: rc=$rc ${ms}ms $out"
pass "gateway down: '${out##*: }' in ${ms} ms"

# Gateway hung: accepts the connection, never answers. The timeout holds.
HUNG=$(free_port)
python3 -c 'import socket, time, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
conns = []
end = time.time() + 30
while time.time() < end:
    s.settimeout(1)
    try: conns.append(s.accept()[0])
    except socket.timeout: pass' $HUNG &
_pids+=($!)
sleep 0.5
start=$(date +%s%N)
set +e; out=$("$BPFEX" push --gateway http://127.0.0.1:$HUNG --job j --timeout 1s --retries 0 "$WORK/c.prom" 2>&1); rc=$?; set -e
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc = 1 ] && [[ "$out" == *"imeout"* ]] && [ $ms -lt 3000 ] || fail "hung gateway: rc=$rc ${ms}ms $out"
pass "hung gateway: timed out in ${ms} ms"

# A failed Lua job pushes its failure and keeps the last success time.
cat > "$WORK/ok.lua" <<'LUA'
local g = metric.gauge("work_items", "items")
job.run(function() g:set({}, 5) end)
LUA
cat > "$WORK/boom.lua" <<'LUA'
local g = metric.gauge("work_items", "items")
job.run(function() error("disk on fire") end)
LUA
push --job work "$WORK/ok.lua"
last_ok=$(value bpfex_job_last_success_timestamp_seconds work)
set +e; out=$(push --job work "$WORK/boom.lua" 2>&1); rc=$?; set -e
[ $rc = 3 ] && [[ "$out" == *"disk on fire"* ]] || fail "failed job: rc=$rc $out"
[ "$(value bpfex_job_success work)" = 0 ] || fail "failure not visible"
[ "$(value bpfex_job_last_success_timestamp_seconds work)" = "$last_ok" ] || fail "last success time lost"
[ "$(value work_items work)" = 5 ] || fail "the previous run's metrics were dropped"
pass "failed job: exit 3, bpfex_job_success 0 on the gateway, last success kept"

# The bundled IDP sync job against a local JSON user list.
mkdir -p "$WORK/idp"
echo '{"users": [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}]}' > "$WORK/idp/users.json"
IDP=$(free_port)
(cd "$WORK/idp" && exec python3 -m http.server $IDP --bind 127.0.0.1) > "$WORK/idp.log" 2>&1 &
_pids+=($!)
wait_for 10 curl -sf http://127.0.0.1:$IDP/users.json
JOB="$(dirname "$0")/../../rules/jobs/idp_sync.lua"
push --job idp_sync --param idp_url=http://127.0.0.1:$IDP/users.json "$JOB"
push --job idp_sync --param idp_url=http://127.0.0.1:$IDP/users.json "$JOB"
set +e; push --job idp_sync --param idp_url=http://127.0.0.1:$IDP/missing.json "$JOB" 2>/dev/null; rc=$?; set -e
[ $rc = 3 ] || fail "failed sync: rc=$rc"
m=$(curl -s $GW/metrics | grep 'job="idp_sync"')
grep -q '^vpn_idp_sync_total{instance="",job="idp_sync",status="success"} 2$' <<<"$m" || fail "success count: $(grep sync_total <<<"$m")"
grep -q '^vpn_idp_sync_total{instance="",job="idp_sync",status="failure"} 1$' <<<"$m" || fail "failure count"
grep -q '^vpn_idp_sync_duration_seconds_count{instance="",job="idp_sync"} 3$' <<<"$m" || fail "histogram count"
grep -q '^vpn_idp_users_synced{instance="",job="idp_sync"} 4$' <<<"$m" || fail "users synced"
grep -q '^vpn_idp_connected{instance="",job="idp_sync"} 0$' <<<"$m" || fail "connected after the failed sync"
pass "IDP job: 2 successes and 1 failure counted across runs, 4 users, disconnected after the failure"

# The bundled SBOM scan job over a directory of lock files and a vulnerability DB.
S="$WORK/sbom"; mkdir -p "$S/svc/node_modules/x" "$S/crate"
cat > "$S/crate/Cargo.lock" <<'LOCK'
version = 3

[[package]]
name = "openssl"
version = "0.10.40"

[[package]]
name = "serde"
version = "1.0.150"

[[package]]
name = "tokio"
version = "1.20.0"
LOCK
cat > "$S/svc/package-lock.json" <<'LOCK'
{"lockfileVersion": 3, "packages": {"": {"name": "svc"},
 "node_modules/lodash": {"version": "4.17.20"}, "node_modules/express": {"version": "4.18.2"}}}
LOCK
echo '{"lockfileVersion": 3, "packages": {"node_modules/ignored": {"version": "1.0.0"}}}' > "$S/svc/node_modules/x/package-lock.json"
cat > "$WORK/vulndb.json" <<'DB'
{"updated": 1763600000, "vulns": [
 {"id": "CVE-2021-23337", "ecosystem": "npm", "package": "lodash", "versions": ["4.17.20"], "severity": "high"},
 {"id": "CVE-X-1", "ecosystem": "cargo", "package": "openssl", "versions": ["0.10.40"], "severity": "critical"},
 {"id": "CVE-X-2", "ecosystem": "cargo", "package": "tokio", "versions": ["1.99.0"], "severity": "low"}]}
DB
SBOM="$(dirname "$0")/../../rules/jobs/sbom_scan.lua"
push --job sbom_scan --param dir="$S" --param vulndb="$WORK/vulndb.json" "$SBOM"
push --job sbom_scan --param dir="$S" --param vulndb="$WORK/vulndb.json" "$SBOM"
m=$(curl -s $GW/metrics | grep 'job="sbom_scan"')
for want in 'ironpost_sbom_scanner_packages_scanned_total{ecosystem="cargo",instance="",job="sbom_scan"} 6' \
            'ironpost_sbom_scanner_packages_scanned_total{ecosystem="npm",instance="",job="sbom_scan"} 4' \
            'ironpost_sbom_scanner_cves_found{instance="",job="sbom_scan",severity="high"} 1' \
            'ironpost_sbom_scanner_cves_found{instance="",job="sbom_scan",severity="critical"} 1' \
            'ironpost_sbom_scanner_cves_found{instance="",job="sbom_scan",severity="low"} 0' \
            'ironpost_sbom_scanner_scans_completed_total{instance="",job="sbom_scan"} 2' \
            'ironpost_sbom_scanner_scan_duration_seconds_count{instance="",job="sbom_scan"} 2' \
            'ironpost_sbom_scanner_vulndb_last_update_timestamp{instance="",job="sbom_scan"} 1.7636e+09'; do
  grep -qF "$want" <<<"$m" || fail "sbom: missing $want; have: $(grep ironpost <<<"$m" | grep -v bucket)"
done
pass "SBOM job: 3 cargo + 2 npm packages per scan (node_modules skipped), 1 high + 1 critical CVE, 2 scans counted"

# The daemon's push mode: chosen families every interval, and a final push on SIGTERM.
P=$(free_port)
cat > "$WORK/push.yaml" <<YML
listen: 127.0.0.1:$P
tick_interval: 300ms
push:
  gateway: $GW
  job: bpfex-node
  labels: {host: n1}
  interval: 1s
  families: ["bpfex_build_info", "process_.*"]
YML
"$BPFEX" run --config "$WORK/push.yaml" > "$WORK/daemon.log" 2>&1 &
dpid=$!; _pids+=($dpid)
pushed() { [[ "$(names bpfex-node host=n1)" == *"bpfex_build_info"*"process_cpu_seconds_total"* ]]; }
wait_for 10 pushed || fail "daemon push did not arrive: $(names bpfex-node host=n1)"
[[ "$(names bpfex-node host=n1)" != *"bpfex_ticks_total"* ]] || fail "families not filtered: $(names bpfex-node host=n1)"
# The self-metric reaches /metrics with the tick after the push.
push_counted() { curl -s http://127.0.0.1:$P/metrics | grep -q '^bpfex_push_total{result="ok"} [1-9]'; }
wait_for 5 push_counted || fail "push self-metric"
t_before=$(curl -s $GW/metrics | awk '/^push_time_seconds\{.*job="bpfex-node"/ {print $2}')
sleep 0.2
kill -TERM $dpid; wait $dpid
t_after=$(curl -s $GW/metrics | awk '/^push_time_seconds\{.*job="bpfex-node"/ {print $2}')
python3 -c "import sys; sys.exit(0 if float('$t_after') > float('$t_before') else 1)" || fail "no final push ($t_before -> $t_after)"
pass "daemon push mode: chosen families every second, a final push at SIGTERM"

# bpfex push takes its gateway and grouping labels from a config file's push: section.
printf 'push:\n  gateway: %s\n  labels: {site: lab}\n  timeout: 5s\n' "$GW" > "$WORK/pushcfg.yaml"
"$BPFEX" push --config "$WORK/pushcfg.yaml" --job fromcfg "$WORK/c.prom"
[ -n "$(names fromcfg site=lab)" ] || fail "push --config: group job=fromcfg,site=lab missing"
pass "bpfex push --config: gateway and labels from the push: section"
