#!/usr/bin/env bash
# tools/demo.sh services: seeds 002 and 003 after the build. The masque-vpn
# stand-in owns a TUN in its own namespace and moves five clients' packets
# through it; the ojeomneo stand-in answers a steady mix of requests (some
# slow, some failing). bpfex serves both catalogs, the alerts and the SLOs.
# Ctrl-C stops everything and removes what it made.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$BPFEX_ROOT"

NS=bpfex-masque
LISTEN=${BPFEX_LISTEN:-127.0.0.1:9479}
PIN=/sys/fs/bpf/bpfex-demo-services   # deploy/demo/services.yaml's pin_path (each demo its own: stopping one never removes another's pins)
SVC=127.0.0.1:18081
pids=()

cleanup() {
  # A second Ctrl-C (the terminal signals the whole group, timeout(1) passes
  # its own on) must not cut the cleanup short and leave the namespaces.
  trap '' INT TERM
  trap - EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$PIN"
  echo "demo: removed namespace $NS and the demo's pinned maps"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" != 0 ]; then
  echo "demo: creating the namespace and the TUN device needs root" >&2
  exit 1
fi
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add mode tun name mtun0   # persistent: bpfex attaches before the server starts

echo "demo: /metrics on http://$LISTEN/metrics; Ctrl-C stops"
"$BPFEX_ROOT/build/src/bpfex" run --config "$BPFEX_ROOT/deploy/demo/services.yaml" \
  --rules "$BPFEX_ROOT/rules/masque.lua" --rules "$BPFEX_ROOT/rules/masque_alerts.lua" \
  --rules "$BPFEX_ROOT/rules/ojeomneo.lua" --rules "$BPFEX_ROOT/rules/ojeomneo_alerts.lua" \
  --rules "$BPFEX_ROOT/rules/ojeomneo_slo.lua" --listen "$LISTEN" "$@" &
daemon=$!
pids+=($daemon)
for _ in $(seq 100); do curl -sf "http://$LISTEN/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

# masque-vpn: five clients (nsenter keeps bpfex's bpffs in view; ip netns
# exec would remount /sys), and traffic to them every 50 ms.
nsenter --net="/var/run/netns/$NS" "$BPFEX_ROOT/build/examples/masque/masque-server" --pin-dir "$PIN" \
  --clients alice,bob,carol,dave,erin --inject 100 --failed-requests 3 >/dev/null & pids+=($!)
sleep 1
ip netns exec "$NS" python3 -c '
import random, socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r = random.Random(2)
while True:
    s.sendto(b"x" * r.randint(64, 1300), ("10.99.0.%d" % r.randint(2, 6), 7000))
    time.sleep(0.05)' & pids+=($!)

# ojeomneo: the service and a steady mix of requests from three users.
"$BPFEX_ROOT/build/examples/ojeomneo/ojeomneo-service" --pin-dir "$PIN" --listen "$SVC" >/dev/null & pids+=($!)
( i=0
  while true; do
    i=$((i + 1)); u="X-User: user$((i % 3))"
    curl -s -H "$u" "http://$SVC/api/menus" >/dev/null
    curl -s -H "$u" "http://$SVC/api/menus/$((i % 7))" >/dev/null
    [ $((i % 4)) = 0 ] && curl -s -X POST -H "$u" -H "X-Payment: card" -H "X-Amount: 12000" "http://$SVC/api/orders" >/dev/null
    [ $((i % 9)) = 0 ] && curl -s "http://$SVC/api/error" >/dev/null
    [ $((i % 15)) = 0 ] && curl -s "http://$SVC/api/slow" >/dev/null
    sleep 0.2
  done ) & pids+=($!)

wait "$daemon"
