#!/usr/bin/env bash
# tools/demo.sh ironpost: the Ironpost package (seed 001) after the build.
# The bundled ironpost_xdp program on a veth pair between two namespaces,
# with mixed TCP/UDP/ICMP/other frames, some from blocked sources; the C
# client (examples/ironpost) playing Ironpost's modules in the counter
# region; the SBOM job pushing to a Pushgateway every 30 s. Ctrl-C stops
# everything and removes what it made.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$BPFEX_ROOT"

NS_A=bpfex-ip-a   # Ironpost's host: ip0, ironpost_xdp
NS_B=bpfex-ip-b   # the traffic: ip0p
LISTEN=${BPFEX_LISTEN:-127.0.0.1:9479}
DEMO=/tmp/bpfex-demo
GW_PORT=19091
PIN=/sys/fs/bpf/bpfex-demo-ironpost   # deploy/demo/ironpost.yaml's pin_path (each demo its own)
pids=()

cleanup() {
  # A second Ctrl-C (the terminal signals the whole group, timeout(1) passes
  # its own on) must not cut the cleanup short and leave the namespaces.
  trap '' INT TERM
  trap - EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -rf "$PIN"
  echo "demo: removed namespaces $NS_A and $NS_B and the demo's pinned maps"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" != 0 ]; then
  echo "demo: creating the veth pair and namespaces needs root" >&2
  exit 1
fi
for ns in "$NS_A" "$NS_B"; do
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$NS_A" link add ip0 type veth peer name ip0p netns "$NS_B"
ip -n "$NS_A" link set ip0 up
ip -n "$NS_B" link set ip0p up
echo "demo: veth $NS_A/ip0 <-> $NS_B/ip0p up"

# The SBOM job every 30 s over this repository's own lock files.
mkdir -p "$DEMO/state"
python3 -c 'import json, time; print(json.dumps({"updated": int(time.time()) - 7200, "vulns": [
  {"id": "CVE-DEMO-1", "ecosystem": "cargo", "package": "ironpost-client", "versions": ["0.1.0"], "severity": "high"}]}))' \
  > "$DEMO/vulndb.json"
if command -v prometheus-pushgateway >/dev/null; then
  prometheus-pushgateway --web.listen-address=127.0.0.1:$GW_PORT >/dev/null 2>&1 & pids+=($!)
fi
( sleep 2
  while true; do
    "$BPFEX_ROOT/build/src/bpfex" push --gateway "http://127.0.0.1:$GW_PORT" --job sbom_scan \
      --param "dir=$BPFEX_ROOT/examples" --param "vulndb=$DEMO/vulndb.json" \
      "$BPFEX_ROOT/rules/jobs/sbom_scan.lua" >/dev/null 2>&1 || true
    sleep 30
  done ) & pids+=($!)

echo "demo: /metrics on http://$LISTEN/metrics, Pushgateway on 127.0.0.1:$GW_PORT; Ctrl-C stops"
"$BPFEX_ROOT/build/src/bpfex" run --config "$BPFEX_ROOT/deploy/demo/ironpost.yaml" \
  --rules "$BPFEX_ROOT/rules/ironpost.lua" --rules "$BPFEX_ROOT/rules/netprobe.lua" --listen "$LISTEN" "$@" &
daemon=$!
pids+=($daemon)
for _ in $(seq 100); do curl -sf "http://$LISTEN/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

# Ironpost's modules: the C client adding to the counter region; the
# traffic, 5 % of it from the blocked 10.77.0.66.
"$BPFEX_ROOT/build/examples/ironpost/ironpost-client" --pin "$PIN/ironpost_counters" \
  --version 0.1.0 --commit "$(git -C "$BPFEX_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" loop &
pids+=($!)
ip netns exec "$NS_B" python3 "$BPFEX_ROOT/tools/ironpost_traffic.py" loop ip0p 10.77.0.66 & pids+=($!)

wait "$daemon"
