#!/usr/bin/env bash
# The privileged suite: real BPF programs on a real veth pair between two
# network namespaces made here, real packets with exact counts. Prints SKIPPED
# and exits 77 (meson's skip) only where it cannot run: not root, or no BPF.
#   run.sh GTEST_BINARY [DAEMON_TEST_SCRIPT]
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "SKIPPED: the privileged suite needs root (CAP_BPF, CAP_NET_ADMIN)"; exit 77; fi
if [ ! -e /sys/kernel/btf/vmlinux ]; then echo "SKIPPED: the kernel has no BTF (/sys/kernel/btf/vmlinux)"; exit 77; fi
command -v ip >/dev/null || { echo "SKIPPED: iproute2 is not installed"; exit 77; }

export BPFEX_T_NS_A=bpfex-t$$-a BPFEX_T_NS_B=bpfex-t$$-b
export BPFEX_T_IF_A=bpfext0 BPFEX_T_IF_B=bpfext0p
export BPFEX_T_IP_A=10.202.0.1 BPFEX_T_IP_B=10.202.0.2
export BPFEX_T_PIN=/sys/fs/bpf/bpfex-test-$$
root=$(cd "$(dirname "$0")/../.." && pwd)
export BPFEX_UDP_SEND="$root/tools/udp_send.py"

cleanup() {
  ip netns del "$BPFEX_T_NS_A" 2>/dev/null || true
  ip netns del "$BPFEX_T_NS_B" 2>/dev/null || true
  rm -rf "$BPFEX_T_PIN"
}
trap cleanup EXIT

ip netns add "$BPFEX_T_NS_A"
ip netns add "$BPFEX_T_NS_B"
ip -n "$BPFEX_T_NS_A" link add "$BPFEX_T_IF_A" type veth peer name "$BPFEX_T_IF_B" netns "$BPFEX_T_NS_B"
for side in A B; do
  ns_var=BPFEX_T_NS_$side if_var=BPFEX_T_IF_$side ip_var=BPFEX_T_IP_$side
  ns=${!ns_var} ifc=${!if_var} addr=${!ip_var}
  # No IPv6 (no router/neighbour solicitations): only our datagrams cross.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" addr add "$addr/24" dev "$ifc"
  ip -n "$ns" link set lo up
  ip -n "$ns" link set "$ifc" up
done
# Static neighbours: no ARP frames either.
mac_a=$(ip -n "$BPFEX_T_NS_A" -o link show "$BPFEX_T_IF_A" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
mac_b=$(ip -n "$BPFEX_T_NS_B" -o link show "$BPFEX_T_IF_B" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
ip -n "$BPFEX_T_NS_A" neigh replace "$BPFEX_T_IP_B" lladdr "$mac_b" dev "$BPFEX_T_IF_A" nud permanent
ip -n "$BPFEX_T_NS_B" neigh replace "$BPFEX_T_IP_A" lladdr "$mac_a" dev "$BPFEX_T_IF_B" nud permanent

# A machine nobody prepared: the suite runs in a private mount namespace with
# bpffs unmounted (a fresh Debian boots without it), so bpfex has to mount it
# itself, every run, whatever the host has mounted. The host is not touched.
fresh() {
  if command -v unshare >/dev/null; then
    unshare --mount --propagation private bash -c \
      'umount /sys/fs/bpf 2>/dev/null || true
       if grep -q " /sys/fs/bpf " /proc/self/mounts; then echo "run.sh: bpffs still mounted" >&2; exit 1; fi
       exec "$@"' fresh "$@"
  else
    echo "run.sh: no unshare; running on the host's mounts" >&2
    "$@"
  fi
}
fresh "$1"
if [ $# -ge 2 ]; then fresh "$2"; fi
