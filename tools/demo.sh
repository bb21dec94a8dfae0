#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the
# daemon on its embedded default: the VPN router package (seed 000: the
# bundled vpn_router XDP/TC programs with a demo policy, rules/) on a demo veth
# pair between two network namespaces, with generated traffic that includes
# denied flows and five tunnels, plus the IDP sync job every 30 s against a
# local IDP and a Pushgateway. Ctrl-C stops everything and removes what it made.
#
#   tools/demo.sh [BPFEX RUN FLAGS...]            the VPN router package (seed 000)
#   tools/demo.sh ironpost [BPFEX RUN FLAGS...]   the Ironpost package (seed 001)
#   tools/demo.sh services [BPFEX RUN FLAGS...]   masque-vpn and ojeomneo (seeds 002 and 003)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/vpn_net.sh"
cd "$BPFEX_ROOT"

bpfex_install_deps
# The daemon and the examples' clients only: the tests and benchmarks are
# tools/test.sh's (its own build directory), and they double a first build.
bpfex_build build --buildtype=release -Dtests=disabled -Dbenchmarks=disabled

case "${1:-}" in
  ironpost) shift; exec "$BPFEX_ROOT/tools/lib/demo_ironpost.sh" "$@" ;;
  services) shift; exec "$BPFEX_ROOT/tools/lib/demo_services.sh" "$@" ;;
esac

NS_A=bpfex-demo-a   # router: bpfex0 10.201.0.1, zones corp 10.201.1.1 and prod 10.201.2.1
NS_B=bpfex-demo-b   # clients: bpfex0p 10.201.0.2-.6 (admin, developer, guest, contractor, no role)
LISTEN=${BPFEX_LISTEN:-127.0.0.1:9479}
DEMO=/tmp/bpfex-demo          # state_dir (deploy/demo/bpfex.yaml), the IDP's files
IDP_PORT=18080 GW_PORT=19091
pids=()

cleanup() {
  # A second Ctrl-C (the terminal signals the whole group, timeout(1) passes
  # its own on) must not cut the cleanup short and leave the namespaces.
  trap '' INT TERM
  trap - EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  vpn_net_down "$NS_A" "$NS_B"
  rm -rf /sys/fs/bpf/bpfex-demo
  echo "demo: removed namespaces $NS_A and $NS_B and the demo's pinned maps"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" != 0 ]; then
  echo "demo: creating the veth pair and namespaces needs root" >&2
  exit 1
fi
vpn_net_up "$NS_A" "$NS_B" bpfex0 bpfex0p
echo "demo: veth $NS_A/bpfex0 <-> $NS_B/bpfex0p up"
T="$BPFEX_ROOT/tools/vpn_traffic.py"

# The IDP (a static user list), a Pushgateway, and the sync job every 30 s:
# it pushes, and leaves its state where the daemon's rule reads it.
mkdir -p "$DEMO/idp" "$DEMO/state"
python3 -c 'import json; print(json.dumps({"users": [{"id": i, "name": "user%d" % i} for i in range(1, 126)]}))' \
  > "$DEMO/idp/users.json"
python3 -m http.server "$IDP_PORT" --bind 127.0.0.1 --directory "$DEMO/idp" >/dev/null 2>&1 & pids+=($!)
if command -v prometheus-pushgateway >/dev/null; then
  prometheus-pushgateway --web.listen-address=127.0.0.1:$GW_PORT --persistence.file="$DEMO/gw.data" >/dev/null 2>&1 &
  pids+=($!)
fi
( sleep 2
  while true; do
    "$BPFEX_ROOT/build/src/bpfex" push --gateway "http://127.0.0.1:$GW_PORT" --job idp_sync --state-dir "$DEMO/state" \
      --param "idp_url=http://127.0.0.1:$IDP_PORT/users.json" "$BPFEX_ROOT/rules/jobs/idp_sync.lua" >/dev/null 2>&1 || true
    sleep 30
  done ) & pids+=($!)

# The daemon: deploy/demo/bpfex.yaml (the vpn_router object attached to
# bpfex0 in the router namespace, the demo policy, iface_traffic for NetProbe)
# with the bundled rule sets.
echo "demo: /metrics on http://$LISTEN/metrics, Pushgateway on 127.0.0.1:$GW_PORT; Ctrl-C stops"
"$BPFEX_ROOT/build/src/bpfex" run --config "$BPFEX_ROOT/deploy/demo/bpfex.yaml" \
  --rules "$BPFEX_ROOT/rules/vpn_router.lua" --rules "$BPFEX_ROOT/rules/vpn_alerts.lua" --rules "$BPFEX_ROOT/rules/netprobe.lua" \
  --listen "$LISTEN" "$@" &
daemon=$!
pids+=($daemon)
# Traffic once the programs are attached, so the first handshakes are seen.
for _ in $(seq 100); do curl -sf "http://$LISTEN/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

# Sinks on the router and the client side, then the traffic: tunnels
# 1001-1005 (handshakes, data, replays, stale keys, rotations, a close) and
# plain datagrams to every zone from every client, some denied by the policy.
ip netns exec "$NS_A" python3 "$T" sink 51820 1000000000 & pids+=($!)
ip netns exec "$NS_A" python3 "$T" sink 9000 1000000000 & pids+=($!)
ip netns exec "$NS_B" python3 "$T" sink 51820 1000000000 & pids+=($!)
ip netns exec "$NS_B" python3 "$T" demo-clients 10.201.0.1 & pids+=($!)
ip netns exec "$NS_A" python3 "$T" demo-router 10.201.0.2 & pids+=($!)

wait "$daemon"
