// Per-packet cost of the bundled vpn_router and ironpost_xdp programs (needs root), measured
// with BPF_PROG_TEST_RUN against an empty program of the same type in the same
// run (seed 000: per-CPU counters at most 10 ns above an empty program).
// Variants are the object's load-time globals: counters only (policy=0,
// latency=0), + latency histogram (latency=1), the full data path (policy and
// sessions) on an allowed packet, a denied one, and a tunnel data message;
// ironpost_xdp (seed 001) with and without its run-time histogram, on a
// passed packet and one its blocklist drops.
// kernel.bpf_stats_enabled is turned off while measuring (it adds ~66 ns a
// run) and restored after.
//   prog_cost [repeat]     (default 2,000,000 runs per measurement, 7 rounds)
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bpfex_abi.h"
#include "ironpost_abi.h"
#include "ironpost_xdp.skel.h"
#include "prog_cost.skel.h"
#include "vpn_router.skel.h"

namespace {

std::vector<uint8_t> udpPacket(const char* src, const char* dst, uint16_t port, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> p(sizeof(ethhdr) + sizeof(iphdr) + sizeof(udphdr) + payload.size());
  auto* eth = reinterpret_cast<ethhdr*>(p.data());
  std::memset(eth->h_dest, 0x02, ETH_ALEN);
  std::memset(eth->h_source, 0x04, ETH_ALEN);
  eth->h_proto = htons(ETH_P_IP);
  auto* ip = reinterpret_cast<iphdr*>(eth + 1);
  ip->version = 4;
  ip->ihl = 5;
  ip->ttl = 64;
  ip->protocol = IPPROTO_UDP;
  ip->tot_len = htons(static_cast<uint16_t>(p.size() - sizeof(ethhdr)));
  inet_pton(AF_INET, src, &ip->saddr);
  inet_pton(AF_INET, dst, &ip->daddr);
  auto* udp = reinterpret_cast<udphdr*>(ip + 1);
  udp->source = htons(40000);
  udp->dest = htons(port);
  udp->len = htons(static_cast<uint16_t>(sizeof(udphdr) + payload.size()));
  std::memcpy(udp + 1, payload.data(), payload.size());
  return p;
}

std::vector<uint8_t> tunnelMsg(uint8_t type, uint32_t tunnel, uint8_t epoch, uint64_t counter, size_t payload) {
  std::vector<uint8_t> m(sizeof(vpn_tunnel_hdr) + payload, 0);
  vpn_tunnel_hdr h{};
  h.type = type;
  h.key_epoch = epoch;
  h.tunnel_id = htonl(tunnel);
  h.counter = htobe64(counter);
  std::memcpy(m.data(), &h, sizeof h);
  return m;
}

// Mean ns per run of `repeat` runs.
double runOnce(int prog_fd, const std::vector<uint8_t>& pkt, int repeat) {
  std::vector<uint8_t> out(pkt.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt.data(), .data_out = out.data(), .data_size_in = static_cast<uint32_t>(pkt.size()),
              .data_size_out = static_cast<uint32_t>(out.size()), .repeat = repeat);
  if (int rc = bpf_prog_test_run_opts(prog_fd, &o); rc != 0) {
    std::fprintf(stderr, "BPF_PROG_TEST_RUN: %s\n", std::strerror(-rc));
    std::exit(1);
  }
  return o.duration;  // the kernel reports the mean per run, in ns
}

struct Variant {
  bool xdp;
  const char* name;
  int prog_fd;
  const std::vector<uint8_t>* pkt;
  std::vector<double> ns;
};

vpn_router_bpf* loadVpn(bool policy, bool latency) {
  vpn_router_bpf* s = vpn_router_bpf__open();
  if (s == nullptr) std::exit(1);
  s->rodata->policy = policy;
  s->rodata->latency = latency;
  bpf_map* m;
  bpf_object__for_each_map(m, s->obj) bpf_map__set_pin_path(m, nullptr);  // private maps
  if (vpn_router_bpf__load(s) != 0) {
    std::fprintf(stderr, "load vpn_router: %s\n", std::strerror(errno));
    std::exit(1);
  }
  return s;
}

void put(int fd, const void* k, const void* v) {
  if (bpf_map_update_elem(fd, k, v, BPF_ANY) != 0) {
    std::perror("bpf_map_update_elem");
    std::exit(1);
  }
}

// The demo policy's shape: admin 10.201.0.2 may reach prod; guest 10.201.0.4 may not.
void loadPolicy(vpn_router_bpf* s) {
  auto ip = [](const char* a) { uint32_t x; inet_pton(AF_INET, a, &x); return x; };
  vpn_ip_key k1{ip("10.201.0.2")}, k2{ip("10.201.0.4")};
  vpn_role r1{1}, r2{3};
  put(bpf_map__fd(s->maps.ip_role_map), &k1, &r1);
  put(bpf_map__fd(s->maps.ip_role_map), &k2, &r2);
  vpn_zone_key z1{24, ip("10.201.0.0")}, z3{24, ip("10.201.2.0")};
  vpn_zone zv1{1}, zv3{3};
  put(bpf_map__fd(s->maps.network_zone_map), &z1, &zv1);
  put(bpf_map__fd(s->maps.network_zone_map), &z3, &zv3);
  vpn_acl_key a1{1, 3}, a2{1, 1}, a3{3, 3};
  vpn_acl allow{12, VPN_ACTION_PASS}, allow_gw{10, VPN_ACTION_PASS}, deny{33, VPN_ACTION_DROP};
  put(bpf_map__fd(s->maps.role_acl_map), &a1, &allow);
  put(bpf_map__fd(s->maps.role_acl_map), &a2, &allow_gw);
  put(bpf_map__fd(s->maps.role_acl_map), &a3, &deny);
}

ironpost_xdp_bpf* loadIronpost(bool latency) {
  ironpost_xdp_bpf* s = ironpost_xdp_bpf__open();
  if (s == nullptr) std::exit(1);
  s->rodata->latency = latency;
  bpf_map* m;
  bpf_object__for_each_map(m, s->obj) bpf_map__set_pin_path(m, nullptr);
  if (ironpost_xdp_bpf__load(s) != 0) {
    std::fprintf(stderr, "load ironpost_xdp: %s\n", std::strerror(errno));
    std::exit(1);
  }
  // A blocklist of 1,000 /32s and one /16: the lookup walks a real trie.
  for (uint32_t i = 0; i < 1000; ++i) {
    ironpost_block_key k{32, htonl((192u << 24) | (168u << 16) | i)};
    ironpost_block v{};
    put(bpf_map__fd(s->maps.ironpost_blocklist), &k, &v);
  }
  ironpost_block_key k{16, htonl((10u << 24) | (66u << 16))};
  ironpost_block v{};
  put(bpf_map__fd(s->maps.ironpost_blocklist), &k, &v);
  return s;
}

std::string readSysctl() {
  std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
  std::string v;
  in >> v;
  return v;
}
void writeSysctl(const std::string& v) { std::ofstream("/proc/sys/kernel/bpf_stats_enabled") << v; }

}  // namespace

int main(int argc, char** argv) {
  const int repeat = argc > 1 ? std::atoi(argv[1]) : 2'000'000;
  const int rounds = 7;
  const std::string stats_before = readSysctl();
  writeSysctl("0");

  prog_cost_bpf* empty = prog_cost_bpf__open_and_load();
  if (empty == nullptr) {
    std::fprintf(stderr, "load prog_cost: %s\n", std::strerror(errno));
    return 1;
  }
  vpn_router_bpf* counters = loadVpn(false, false);
  vpn_router_bpf* lat = loadVpn(false, true);
  vpn_router_bpf* full = loadVpn(true, true);
  vpn_router_bpf* full_nolat = loadVpn(true, false);
  loadPolicy(full);
  loadPolicy(full_nolat);

  const auto plain = udpPacket("10.201.0.2", "10.201.2.1", 9000, std::vector<uint8_t>(64, 'x'));
  const auto denied = udpPacket("10.201.0.4", "10.201.2.1", 9000, std::vector<uint8_t>(64, 'x'));
  const auto hello = udpPacket("10.201.0.2", "10.201.0.1", 51820, tunnelMsg(VPN_MSG_HANDSHAKE, 1001, 1, 0, 0));
  const auto data = udpPacket("10.201.0.2", "10.201.0.1", 51820, tunnelMsg(VPN_MSG_DATA, 1001, 1, 1, 64));
  // Establish session 1001 in both full variants.
  runOnce(bpf_program__fd(full->progs.vpn_xdp), hello, 1);
  runOnce(bpf_program__fd(full_nolat->progs.vpn_xdp), hello, 1);

  ironpost_xdp_bpf* ip_nolat = loadIronpost(false);
  ironpost_xdp_bpf* ip_lat = loadIronpost(true);
  const auto blocked = udpPacket("10.66.3.4", "10.201.2.1", 9000, std::vector<uint8_t>(64, 'x'));

  std::vector<Variant> v = {
      {true, "xdp  empty program (baseline)", bpf_program__fd(empty->progs.empty_xdp), &plain, {}},
      {true, "xdp  per-CPU counters (policy=0 latency=0)", bpf_program__fd(counters->progs.vpn_xdp), &plain, {}},
      {true, "xdp  counters + latency histogram", bpf_program__fd(lat->progs.vpn_xdp), &plain, {}},
      {true, "xdp  full, allowed packet (3 policy lookups)", bpf_program__fd(full->progs.vpn_xdp), &plain, {}},
      {true, "xdp  full, denied packet (+ violation count)", bpf_program__fd(full->progs.vpn_xdp), &denied, {}},
      {true, "xdp  full, tunnel data message (+ session)", bpf_program__fd(full->progs.vpn_xdp), &data, {}},
      {true, "xdp  full without latency, allowed packet", bpf_program__fd(full_nolat->progs.vpn_xdp), &plain, {}},
      {true, "xdp  ironpost: blocklist + counters (latency=0), passed", bpf_program__fd(ip_nolat->progs.ironpost_xdp),
       &plain, {}},
      {true, "xdp  ironpost: blocklist + counters (latency=0), blocked", bpf_program__fd(ip_nolat->progs.ironpost_xdp),
       &blocked, {}},
      {true, "xdp  ironpost: + run-time histogram (default), passed", bpf_program__fd(ip_lat->progs.ironpost_xdp),
       &plain, {}},
      {false, "tc   empty program (baseline)", bpf_program__fd(empty->progs.empty_tc), &plain, {}},
      {false, "tc   per-CPU counters (policy=0 latency=0)", bpf_program__fd(counters->progs.vpn_tc_egress), &plain, {}},
      {false, "tc   full egress, tunnel data message", bpf_program__fd(full->progs.vpn_tc_egress), &data, {}},
  };
  for (int r = 0; r < rounds; ++r)  // interleaved: drift hits every variant alike
    for (auto& x : v) x.ns.push_back(runOnce(x.prog_fd, *x.pkt, repeat));

  auto med = [](std::vector<double> s) { std::sort(s.begin(), s.end()); return s[s.size() / 2]; };
  const double xdp0 = med(v[0].ns), tc0 = med(std::find_if(v.begin(), v.end(), [](const Variant& x) { return !x.xdp; })->ns);
  std::printf("| program | median ns/packet | min | max | over the empty program |\n|---|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < v.size(); ++i) {
    const double m = med(v[i].ns);
    const double base = v[i].xdp ? xdp0 : tc0;
    std::printf("| %s | %.0f | %.0f | %.0f | %+.0f ns |\n", v[i].name, m, *std::min_element(v[i].ns.begin(), v[i].ns.end()),
                *std::max_element(v[i].ns.begin(), v[i].ns.end()), m - base);
  }
  std::printf("\n%d rounds x %d runs each (BPF_PROG_TEST_RUN, one CPU); kernel.bpf_stats_enabled was %s, 0 while measuring\n",
              rounds, repeat, stats_before.c_str());
  writeSysctl(stats_before);
  ironpost_xdp_bpf__destroy(ip_lat);
  ironpost_xdp_bpf__destroy(ip_nolat);
  vpn_router_bpf__destroy(full_nolat);
  vpn_router_bpf__destroy(full);
  vpn_router_bpf__destroy(lat);
  vpn_router_bpf__destroy(counters);
  prog_cost_bpf__destroy(empty);
  return 0;
}
