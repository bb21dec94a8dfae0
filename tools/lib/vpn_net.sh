# The VPN router package's network (tools/demo.sh and tests/privileged/vpn_test.sh):
#
#   NS_B (clients)                               NS_A (router)
#   IF_B 10.201.0.2-.6/24  <----- veth ----->  IF_A 10.201.0.1/24
#                                               lo   10.201.1.1 (zone corp), 10.201.2.1 (zone prod)
#
# 10.201.0.2 admin, .3 developer, .4 guest, .5 contractor, .6 no role
# (deploy/demo/bpfex.yaml's policy). Source it; it defines functions only.

# vpn_net_up NS_A NS_B IF_A IF_B [static]: "static" adds permanent neighbours
# and turns IPv6 off, so only the datagrams a test sends cross the veth.
vpn_net_up() {
  local a=$1 b=$2 ifa=$3 ifb=$4 static=${5:-}
  local ns
  for ns in "$a" "$b"; do ip netns del "$ns" 2>/dev/null || true; ip netns add "$ns"; done
  ip -n "$a" link add "$ifa" type veth peer name "$ifb" netns "$b"
  if [ "$static" = static ]; then
    for ns in "$a" "$b"; do
      ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    done
  fi
  ip -n "$a" addr add 10.201.0.1/24 dev "$ifa"
  ip -n "$a" addr add 10.201.1.1/32 dev lo
  ip -n "$a" addr add 10.201.2.1/32 dev lo
  local i
  for i in 2 3 4 5 6; do ip -n "$b" addr add "10.201.0.$i/24" dev "$ifb"; done
  for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
  ip -n "$a" link set "$ifa" up
  ip -n "$b" link set "$ifb" up
  ip -n "$b" route add 10.201.1.0/24 via 10.201.0.1
  ip -n "$b" route add 10.201.2.0/24 via 10.201.0.1
  # The router answers from the address the client used; replies leave by IF_A.
  ip netns exec "$a" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  if [ "$static" = static ]; then
    local mac_a mac_b
    mac_a=$(ip -n "$a" -o link show "$ifa" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    mac_b=$(ip -n "$b" -o link show "$ifb" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    ip -n "$b" neigh replace 10.201.0.1 lladdr "$mac_a" dev "$ifb" nud permanent
    for i in 2 3 4 5 6; do ip -n "$a" neigh replace "10.201.0.$i" lladdr "$mac_b" dev "$ifa" nud permanent; done
  fi
}

vpn_net_down() {
  ip netns del "$1" 2>/dev/null || true
  ip netns del "$2" 2>/dev/null || true
}
