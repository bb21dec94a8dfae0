#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the
# daemon on its embedded default on a demo veth pair with generated traffic.
# Ctrl-C stops everything and removes what it created.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$BPFEX_ROOT"

bpfex_install_deps
bpfex_build build --buildtype=release

# Both ends of the veth pair live in namespaces this script creates, so the
# demo traffic never touches the host's own interfaces.
NS_A=bpfex-demo-a   # "router" side: bpfex0, 10.201.0.1/24
NS_B=bpfex-demo-b   # "client" side: bpfex0p, 10.201.0.2/24
LISTEN=${BPFEX_LISTEN:-127.0.0.1:9479}
pids=()

cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -rf /sys/fs/bpf/bpfex-demo
  echo "demo: removed namespaces $NS_A and $NS_B and the demo's pinned maps"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" != 0 ]; then
  echo "demo: creating the veth pair and namespaces needs root" >&2
  exit 1
fi
for ns in "$NS_A" "$NS_B"; do ip netns del "$ns" 2>/dev/null || true; ip netns add "$ns"; done
ip -n "$NS_A" link add bpfex0 type veth peer name bpfex0p netns "$NS_B"
ip -n "$NS_A" addr add 10.201.0.1/24 dev bpfex0
ip -n "$NS_B" addr add 10.201.0.2/24 dev bpfex0p
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set bpfex0 up
ip -n "$NS_B" link set bpfex0p up
echo "demo: veth $NS_A/bpfex0 <-> $NS_B/bpfex0p up"

# Traffic: the client namespace pings the router side five times a second.
ip netns exec "$NS_B" ping -q -i 0.2 10.201.0.1 >/dev/null 2>&1 &
pids+=($!)

# The daemon with the bundled iface_traffic program attached to bpfex0 (XDP,
# TC ingress and egress) inside the router namespace: deploy/demo/bpfex.yaml.
"$BPFEX_ROOT/build/src/bpfex" run --config "$BPFEX_ROOT/deploy/demo/bpfex.yaml" --rules "$BPFEX_ROOT/rules" \
  --listen "$LISTEN" "$@" &
pids+=($!)
wait "${pids[-1]}"
