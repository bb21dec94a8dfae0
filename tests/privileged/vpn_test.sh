#!/usr/bin/env bash
# The VPN router package (seed 000), end to end and privileged: the bundled
# vpn_router object with deploy/demo/bpfex.yaml's policy on a veth pair in
# namespaces made here, rules/vpn_router.lua and rules/vpn_alerts.lua, the
# IDP sync job against a local IDP and a real Pushgateway.
#   1. /metrics against seed 000's catalog: every family, its type, its labels;
#   2. scripted packets with known counts: exact packets, bytes, drops,
#      violations, policy lookups, sessions, map operations, errors;
#   3. a restart: pinned maps keep their counts, vpn_daemon_restarts_total 1;
#   4. real Prometheus scrapes it under the demo's traffic, with seed 000's
#      alerts.yml loaded: every Grafana panel query parses and returns data.
set -euo pipefail
# The host's mounts are left alone: the test runs in a private mount
# namespace, where bpfex mounts bpffs itself (a bpffs it left mounted on the
# host would make the next run's machine kinder than a user's).
if [ -z "${BPFEX_TEST_PRIVATE_NS:-}" ] && command -v unshare >/dev/null; then
  export BPFEX_TEST_PRIVATE_NS=1
  exec unshare --mount --propagation private "$0" "$@"
fi
if [ "$(id -u)" != 0 ]; then echo "SKIPPED: needs root (BPF, network namespaces)"; exit 77; fi
if [ ! -e /sys/kernel/btf/vmlinux ]; then echo "SKIPPED: the kernel has no BTF"; exit 77; fi
for s in prometheus prometheus-pushgateway; do
  command -v $s >/dev/null || { echo "SKIPPED: $s is not installed"; exit 77; }
done
source "$(dirname "$0")/../integration/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tools/lib/vpn_net.sh"
T="$ROOT/tools/vpn_traffic.py"
A=bpfex-v$$-a B=bpfex-v$$-b PIN=/sys/fs/bpf/bpfex-vpn-test-$$
trap 'vpn_net_down $A $B; rm -rf $PIN; _cleanup' EXIT
vpn_net_up "$A" "$B" bpfexv0 bpfexv0p static

P=$(free_port) GW=$(free_port) IDP=$(free_port)
sed -e "s/bpfex-demo-a/$A/g" -e "s/interface: bpfex0,/interface: bpfexv0,/" -e "s#/sys/fs/bpf/bpfex-demo#$PIN#" \
    -e "s#/tmp/bpfex-demo/state#$WORK/state#" -e "s/127.0.0.1:9479/127.0.0.1:$P/" \
    "$ROOT/deploy/demo/bpfex.yaml" > "$WORK/bpfex.yaml"
grep -q "$A" "$WORK/bpfex.yaml" && grep -q "$PIN" "$WORK/bpfex.yaml" || fail "demo config did not take the test's names"

# The IDP (a static user list) and a Pushgateway; the job runs once before
# the daemon starts and leaves its state in the daemon's state_dir.
mkdir -p "$WORK/idp"
echo '{"users": [{"id": 1}, {"id": 2}, {"id": 3}]}' > "$WORK/idp/users.json"
bg idp python3 -m http.server "$IDP" --bind 127.0.0.1 --directory "$WORK/idp"
bg gw prometheus-pushgateway --web.listen-address=127.0.0.1:$GW --persistence.file="$WORK/gw.data"
wait_for 10 curl -sf "http://127.0.0.1:$IDP/users.json"
wait_for 10 curl -sf "http://127.0.0.1:$GW/-/ready"
"$BPFEX" push --gateway "http://127.0.0.1:$GW" --job idp_sync --state-dir "$WORK/state" \
  --param "idp_url=http://127.0.0.1:$IDP/users.json" "$ROOT/rules/jobs/idp_sync.lua" || fail "IDP job failed"

start_daemon() {
  bg "bpfex$1" "$BPFEX" run --config "$WORK/bpfex.yaml" --tick-interval 500ms \
    --rules "$ROOT/rules/vpn_router.lua" --rules "$ROOT/rules/vpn_alerts.lua"
  DAEMON=${_pids[-1]}
  wait_for 15 sh -c "curl -sf http://127.0.0.1:$P/metrics | grep -q '^vpn_packets_total'"
}
start_daemon 1

# Sinks: no ICMP port-unreachable answers, so only the datagrams sent here cross.
bg sink_a ip netns exec "$A" python3 "$T" sink 51820 120
bg sink_a9 ip netns exec "$A" python3 "$T" sink 9000 120
bg sink_b ip netns exec "$B" python3 "$T" sink 51820 120
sleep 0.5
inb() { ip netns exec "$B" python3 "$T" "$@"; }
R=10.201.0.1
inb handshake 10.201.0.2 $R 1001 1          # admin: session 1001
inb data 10.201.0.2 $R 1001 1 1 10          # 10 accepted
inb data 10.201.0.2 $R 1001 1 5 2           # counters 5, 6 again: 2 replays
inb data 10.201.0.2 $R 1001 2 11 1          # sealed with epoch 2: auth failure
inb data 10.201.0.2 $R 1001 1 11 1 20       # 20-byte payload: decrypt failure
inb handshake 10.201.0.3 $R 1002 1          # developer: session 1002
inb handshake 10.201.0.3 $R 1002 2          # key rotation
inb data 10.201.0.3 $R 1002 2 1 5           # 5 accepted
inb handshake 10.201.0.4 $R 1003 1          # guest: session 1003 ...
inb close 10.201.0.4 $R 1003                # ... closed
inb data 10.201.0.2 $R 4242 1 1 1           # no such session: dropped
inb raw 10.201.0.2 $R 9 1001                # unknown message type: dropped
inb udp 10.201.0.4 10.201.1.1 9000 3        # guest -> corp: rule 31 denies
inb udp 10.201.0.3 10.201.2.1 9000 4        # developer -> prod: rule 22 denies
inb udp 10.201.0.6 $R 9000 2                # no role -> gateway: no rule, denied
inb udp 10.201.0.5 10.201.2.1 9000 1        # contractor -> prod: no rule, denied
inb udp 10.201.0.2 10.201.2.1 9000 5        # admin -> prod: rule 12 allows
ip netns exec "$A" python3 "$T" data $R 10.201.0.2 1001 1 1 4   # router seals 4 for 1001

# Sizes on the wire: Ethernet 14 + IPv4 20 + UDP 8 = 42, tunnel header 16.
DATA=122 CTRL=58 SHORT=78 PLAIN=106
XDP_PASS=$((11 + 7 + 2 + 5)) XDP_DROP=$((4 + 1 + 1 + 3 + 4 + 2 + 1))
XDP_BYTES=$((CTRL + 13 * DATA + SHORT + 2 * CTRL + 5 * DATA + 2 * CTRL + DATA + CTRL + 15 * PLAIN))
want() {
  local line
  for line in "$@"; do
    grep -qxF "$line" "$WORK/m.txt" || { grep -F "${line%%\{*}" "$WORK/m.txt" | head -20 >&2; fail "want: $line"; }
  done
}
scrape() { curl -sf "http://127.0.0.1:$P/metrics" > "$WORK/m.txt"; }
settled() { scrape && grep -qxF "vpn_packets_total{direction=\"egress\",action=\"pass\",hook=\"tc_egress\"} 4" "$WORK/m.txt" &&
            grep -qxF "vpn_packets_total{direction=\"ingress\",action=\"pass\",hook=\"tc_ingress\"} $XDP_PASS" "$WORK/m.txt"; }
wait_for 10 settled || { scrape; grep '^vpn_packets_total' "$WORK/m.txt" >&2; fail "packet counts did not settle"; }
sleep 1; scrape   # one more tick: every rule has written

"$ROOT/tools/check_catalog.py" "$(dirname "$0")/vpn_catalog.txt" "$WORK/m.txt" || fail "catalog"
pass "every family of seed 000's catalog, with its type and labels"

want "vpn_packets_total{direction=\"ingress\",action=\"pass\",hook=\"xdp\"} $XDP_PASS" \
     "vpn_packets_total{direction=\"ingress\",action=\"drop\",hook=\"xdp\"} $XDP_DROP" \
     "vpn_packets_total{direction=\"ingress\",action=\"drop\",hook=\"tc_ingress\"} 0" \
     "vpn_bytes_total{direction=\"ingress\",hook=\"xdp\"} $XDP_BYTES" \
     "vpn_bytes_total{direction=\"egress\",hook=\"tc_egress\"} $((4 * DATA))" \
     "vpn_latency_microseconds_count{hook=\"xdp\"} $((XDP_PASS + XDP_DROP))" \
     "vpn_ebpf_program_run_count_total{program=\"xdp\",interface=\"bpfexv0\"} $((XDP_PASS + XDP_DROP))" \
     "vpn_ebpf_program_run_count_total{program=\"tc_ingress\",interface=\"bpfexv0\"} $XDP_PASS"
pass "packets and bytes by direction, action and hook: $XDP_PASS passed, $XDP_DROP dropped at XDP"
want 'vpn_policy_violations_total{role="guest",action="deny",rule_id="31"} 3' \
     'vpn_policy_violations_total{role="developer",action="deny",rule_id="22"} 4' \
     'vpn_policy_violations_total{role="unassigned",action="deny",rule_id="0"} 2' \
     'vpn_policy_violations_total{role="contractor",action="deny",rule_id="0"} 1' \
     'vpn_policy_lookups_total{map="ip_role",result="hit"} 39' \
     'vpn_policy_lookups_total{map="ip_role",result="miss"} 2' \
     'vpn_policy_lookups_total{map="network_zone",result="hit"} 41' \
     'vpn_policy_lookups_total{map="role_acl",result="hit"} 38' \
     'vpn_policy_lookups_total{map="role_acl",result="miss"} 3' \
     'vpn_policy_entries{type="ip_role"} 4' 'vpn_policy_entries{type="acl_rule"} 9'
pass "policy: violations by role and rule, lookups hit/miss, entries"
want 'vpn_sessions_active 2' \
     'vpn_session_packets_total{tunnel_id="1001",direction="decrypted"} 10' \
     'vpn_session_packets_total{tunnel_id="1001",direction="encrypted"} 4' \
     'vpn_session_errors_total{tunnel_id="1001",error_type="replay_detected"} 2' \
     'vpn_session_errors_total{tunnel_id="1001",error_type="auth_failure"} 1' \
     'vpn_session_errors_total{tunnel_id="1001",error_type="decrypt_failure"} 1' \
     'vpn_session_packets_total{tunnel_id="1002",direction="decrypted"} 5' \
     'vpn_session_key_rotations_total{tunnel_id="1002"} 1' \
     'vpn_ebpf_map_operations_total{map_name="session_key_map",operation="lookup"} 30' \
     'vpn_ebpf_map_operations_total{map_name="session_key_map",operation="update"} 3' \
     'vpn_ebpf_map_operations_total{map_name="session_key_map",operation="delete"} 1' \
     'vpn_ebpf_map_operations_total{map_name="ip_role_map",operation="lookup"} 41' \
     'vpn_ebpf_map_entries{map_name="session_key_map",status="current"} 2' \
     'vpn_ebpf_map_entries{map_name="ip_role_map",status="max"} 10000' \
     'vpn_errors_total{component="xdp",error_type="unknown_session"} 1' \
     'vpn_errors_total{component="xdp",error_type="bad_message"} 1' \
     'vpn_errors_total{component="crypto",error_type="replay_detected"} 2'
pass "sessions: packets, errors, rotations, active; map operations and errors"
want 'vpn_idp_sync_total{status="success"} 1' 'vpn_idp_users_synced 3' 'vpn_idp_connected 1' \
     'vpn_idp_sync_duration_seconds_count 1' 'vpn_daemon_restarts_total 0'
pass "IDP group from the sync job's state"

# 3. Restart: the pinned maps keep counting; the restart is counted.
kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true
start_daemon 2
inb udp 10.201.0.4 10.201.1.1 9000 2        # 2 more guest violations
wait_for 10 sh -c "curl -sf http://127.0.0.1:$P/metrics > $WORK/m.txt && grep -qxF 'vpn_policy_violations_total{role=\"guest\",action=\"deny\",rule_id=\"31\"} 5' $WORK/m.txt" ||
  { grep violations "$WORK/m.txt" >&2; fail "counts did not survive the restart"; }
want 'vpn_daemon_restarts_total 1' \
     "vpn_packets_total{direction=\"ingress\",action=\"drop\",hook=\"xdp\"} $((XDP_DROP + 2))"
pass "restart: pinned maps kept their counts, vpn_daemon_restarts_total 1"

# 4. Prometheus, the demo's endless traffic, every dashboard query.
PP=$(free_port)
cat > "$WORK/prometheus.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$ROOT/deploy/prometheus/alerts.yml"]
scrape_configs:
  - job_name: vpn-router
    static_configs: [{targets: ["127.0.0.1:$P"]}]
YML
bg prom prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address=127.0.0.1:$PP
bg clients ip netns exec "$B" python3 "$T" demo-clients $R
bg router ip netns exec "$A" python3 "$T" demo-router 10.201.0.2
"$BPFEX" push --gateway "http://127.0.0.1:$GW" --job idp_sync --state-dir "$WORK/state" \
  --param "idp_url=http://127.0.0.1:$IDP/users.json" "$ROOT/rules/jobs/idp_sync.lua" || fail "IDP job failed"
up() { curl -sf "http://127.0.0.1:$PP/api/v1/query?query=up" | grep -q '"value":\[[0-9.]*,"1"\]'; }
wait_for 30 up || fail "Prometheus does not scrape bpfex"
sleep 6   # a few scrapes of the traffic: rate() over them has data
curl -sf "http://127.0.0.1:$PP/api/v1/rules" | grep -q '"name":"HighPacketDropRate"' || fail "alerts.yml not loaded"
"$ROOT/tools/check_dashboard_queries.py" "http://127.0.0.1:$PP" "$ROOT"/grafana/dashboards/vpn-router.json || fail "dashboard queries"
pass "real Prometheus: every Grafana panel query returns data; seed 000's alerts.yml loaded"
