#!/usr/bin/env bash
# Privileged, daemon level: `bpfex run` attaches the bundled program in the
# namespace run.sh made, real packets cross, /metrics shows exact counts; on
# SIGTERM the programs are detached.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
P=$(free_port)
cat > "$WORK/bpfex.yaml" <<YML
listen: 127.0.0.1:$P
tick_interval: 500ms
bpf:
  pin_path: $BPFEX_T_PIN/daemon
  stats: true
  objects:
    - name: traffic
      bundled: iface_traffic
      attach:
        - {program: bpfex_xdp_count, type: xdp, interface: $BPFEX_T_IF_A, netns: $BPFEX_T_NS_A}
        - {program: bpfex_tc_ingress, type: tc_ingress, interface: $BPFEX_T_IF_A, netns: $BPFEX_T_NS_A}
YML
mkdir -p "$WORK/rules"
cat > "$WORK/rules/traffic.lua" <<'LUA'
local packets = metric.counter("t_packets_total", "Packets per interface and hook", {"ifindex", "hook"})
local bytes = metric.counter("t_bytes_total", "Bytes per interface and hook", {"ifindex", "hook"})
local traffic = bpf.map("traffic/bpfex_iface_stats")
on_tick(function()
  for k, v in traffic:entries() do
    packets:set({k.ifindex, k.hook}, v.packets)
    bytes:set({k.ifindex, k.hook}, v.bytes)
  end
end)
LUA
"$BPFEX" run --config "$WORK/bpfex.yaml" --rules "$WORK/rules" > "$WORK/bpfex.log" 2>&1 &
pid=$!; _pids+=($pid)
wait_for 10 curl -sf http://127.0.0.1:$P/readyz

ip netns exec "$BPFEX_T_NS_A" python3 "$BPFEX_UDP_SEND" sink 7790 4 > "$WORK/sink.txt" &
sleep 0.5
ip netns exec "$BPFEX_T_NS_B" python3 "$BPFEX_UDP_SEND" send "$BPFEX_T_IP_A" 7790 700 >/dev/null
wait %2 2>/dev/null || true
[ "$(cat "$WORK/sink.txt")" = 700 ] || fail "sink received $(cat "$WORK/sink.txt") of 700"
# The counts reach /metrics with the next ticks (500 ms each).
counted() { curl -s http://127.0.0.1:$P/metrics | grep -q '^bpfex_bpf_program_run_count_total{object="traffic",program="bpfex_tc_ingress"} 700$'; }
wait_for 10 counted || true
m=$(curl -s http://127.0.0.1:$P/metrics)
runs=$(awk '/^bpfex_bpf_program_run_count_total\{object="traffic",program="bpfex_xdp_count"\}/ {print $2}' <<<"$m")
[ "$runs" = 700 ] || fail "xdp program ran $runs times for 700 packets"
runs=$(awk '/^bpfex_bpf_program_run_count_total\{object="traffic",program="bpfex_tc_ingress"\}/ {print $2}' <<<"$m")
[ "$runs" = 700 ] || fail "tc ingress program ran $runs times for 700 packets"
grep -q '^bpfex_bpf_map_entries{map="traffic/bpfex_iface_stats",type="percpu_hash"} 2$' <<<"$m" ||
  fail "map entries: $(grep bpfex_bpf_map_entries <<<"$m")"
grep -q 'bpfex_bpf_program_info{object="traffic",program="bpfex_xdp_count",type="xdp"' <<<"$m" || fail "program info"
ifa=$(ip -n "$BPFEX_T_NS_A" -o link show "$BPFEX_T_IF_A" | cut -d: -f1)
grep -q "^t_packets_total{ifindex=\"$ifa\",hook=\"BPFEX_HOOK_XDP\"} 700\$" <<<"$m" || fail "rule: $(grep '^t_packets' <<<"$m")"
grep -q "^t_packets_total{ifindex=\"$ifa\",hook=\"BPFEX_HOOK_TC_INGRESS\"} 700\$" <<<"$m" || fail "rule tc: $(grep '^t_packets' <<<"$m")"
grep -q "^t_bytes_total{ifindex=\"$ifa\",hook=\"BPFEX_HOOK_XDP\"} 74200\$" <<<"$m" || fail "rule bytes: $(grep '^t_bytes' <<<"$m")"
pass "daemon: 700 packets -> run counts 700 (xdp, tc ingress), 2 map entries; a Lua rule serves 700 packets, 74200 bytes"

kill -TERM $pid; wait $pid
ip -n "$BPFEX_T_NS_A" -d link show "$BPFEX_T_IF_A" | grep -q 'prog/xdp' && fail "xdp still attached after SIGTERM"
[ -z "$(tc -n "$BPFEX_T_NS_A" filter show dev "$BPFEX_T_IF_A" ingress)" ] || fail "tc filter still attached"
[ -e "$BPFEX_T_PIN/daemon/bpfex_iface_stats" ] || fail "pinned map was not kept"
pass "SIGTERM detaches; the pinned map stays"
