// The series shape of baselines.md §1-2: one counter family with three labels,
// ~115 bytes per text line, e.g.
// ebpf_flow_packets_total{namespace="payments-prod-07",pod="checkout-api-6f8d9c7b5-x0000007",proto="sctp"} 1858694031
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace bpfex::bench {

inline constexpr const char* kFamily = "ebpf_flow_packets_total";
inline constexpr const char* kHelp = "Packets per flow.";

struct SeriesLabels {
  char ns[32];
  char pod[48];
  const char* proto;
};

inline SeriesLabels labelsFor(uint64_t i) {
  static const char* kProtos[] = {"tcp", "udp", "sctp", "icmp"};
  SeriesLabels l{};
  std::snprintf(l.ns, sizeof l.ns, "payments-prod-%02u", static_cast<unsigned>(i % 50));
  std::snprintf(l.pod, sizeof l.pod, "checkout-api-6f8d9c7b5-x%07u", static_cast<unsigned>(i));
  l.proto = kProtos[i % 4];
  return l;
}

inline double valueFor(uint64_t i, uint64_t tick = 0) {
  return static_cast<double>((i * 1000003 + tick * 7919) % 2147483647);
}

}  // namespace bpfex::bench
