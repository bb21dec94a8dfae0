// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* ironpost_xdp: seed 001's eBPF engine. Counts every frame by protocol
 * (packets, bytes), drops the frames whose IPv4 source is in the blocklist
 * (XDP_DROP, counted as blocked), and records each run's own duration as a
 * log2 histogram with its exact sum. Per-CPU arrays: no atomic, no lock on
 * the hot path. Maps and their meaning: bpf/include/ironpost_abi.h. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpfex_log2.h"
#include "ironpost_abi.h"

/* Load-time settings (set by bpfex before load). */
const volatile __u8 latency = 1; /* 0: no duration histogram (saves two clock reads) */

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ironpost_traffic);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ironpost_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ironpost_latency);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ironpost_latency SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 65536);
  __type(key, struct ironpost_block_key);
  __type(value, struct ironpost_block);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ironpost_blocklist SEC(".maps");

enum proto { PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_OTHER };

/* The frame's protocol and, for IPv4, its source address (0 otherwise). */
static __always_inline enum proto classify(void *data, void *data_end, __be32 *saddr) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end) return PROTO_OTHER;
  __u8 proto;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end) return PROTO_OTHER;
    *saddr = ip->saddr;
    proto = ip->protocol;
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > data_end) return PROTO_OTHER;
    proto = ip6->nexthdr;
    if (proto == IPPROTO_ICMPV6) return PROTO_ICMP;
  } else {
    return PROTO_OTHER;
  }
  switch (proto) {
    case IPPROTO_TCP: return PROTO_TCP;
    case IPPROTO_UDP: return PROTO_UDP;
    case IPPROTO_ICMP: return PROTO_ICMP;
    default: return PROTO_OTHER;
  }
}

static __always_inline void record_latency(__u64 t0) {
  __u64 ns = bpf_ktime_get_ns() - t0;
  __u32 zero = 0;
  struct ironpost_latency *l = bpf_map_lookup_elem(&ironpost_latency, &zero);
  if (!l) return;
  l->sum_ns += ns;
  if (ns == 0) {
    l->zero += 1;
    return;
  }
  __u32 slot = bpfex_log2_ceil(ns);
  if (slot >= IRONPOST_LATENCY_SLOTS) slot = IRONPOST_LATENCY_SLOTS - 1;
  l->slots[slot] += 1;
}

SEC("xdp")
int ironpost_xdp(struct xdp_md *ctx) {
  __u64 t0 = latency ? bpf_ktime_get_ns() : 0;
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  __be32 saddr = 0;
  enum proto proto = classify(data, data_end, &saddr);
  int verdict = XDP_PASS;
  if (saddr) {
    struct ironpost_block_key bk = {.prefixlen = 32, .addr = saddr};
    if (bpf_map_lookup_elem(&ironpost_blocklist, &bk)) verdict = XDP_DROP;
  }
  __u32 zero = 0;
  struct ironpost_traffic *t = bpf_map_lookup_elem(&ironpost_stats, &zero);
  if (t) {
    struct ironpost_counts *c = proto == PROTO_TCP ? &t->tcp
                                : proto == PROTO_UDP ? &t->udp
                                : proto == PROTO_ICMP ? &t->icmp
                                                      : &t->other;
    c->packets += 1;
    c->bytes += (__u64)(data_end - data);
    if (verdict == XDP_DROP) c->blocked += 1;
  }
  if (latency) record_latency(t0);
  return verdict;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
