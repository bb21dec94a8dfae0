// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* iface_traffic: packets and bytes per interface and hook (XDP, TC ingress,
 * TC egress), in a per-CPU hash so the hot path takes no atomic and no lock.
 * Always passes the packet. Seed 004 (NetProbe) and seed 000's packet group
 * are rules over this map. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpfex_abi.h"

/* Load-time setting (set by bpfex before load): count IPv4 frames only. */
const volatile __u8 ipv4_only = 0;

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct bpfex_iface_key);
  __type(value, struct bpfex_iface_counters);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfex_iface_stats SEC(".maps");

static __always_inline void account(__u32 ifindex, enum bpfex_hook hook, __u64 len) {
  struct bpfex_iface_key key = {.ifindex = ifindex, .hook = hook};
  struct bpfex_iface_counters *c = bpf_map_lookup_elem(&bpfex_iface_stats, &key);
  if (c) {
    c->packets += 1;
    c->bytes += len;
    return;
  }
  struct bpfex_iface_counters first = {.packets = 1, .bytes = len};
  /* Per-CPU: another CPU inserting the same key first is not a lost count;
   * each CPU's slot is its own, so retry the lookup on EEXIST. */
  if (bpf_map_update_elem(&bpfex_iface_stats, &key, &first, BPF_NOEXIST) != 0) {
    c = bpf_map_lookup_elem(&bpfex_iface_stats, &key);
    if (c) {
      c->packets += 1;
      c->bytes += len;
    }
  }
}

SEC("xdp")
int bpfex_xdp_count(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  if (ipv4_only) {
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
  }
  account(ctx->ingress_ifindex, BPFEX_HOOK_XDP, (__u64)(data_end - data));
  return XDP_PASS;
}

static __always_inline int tc_count(struct __sk_buff *skb, enum bpfex_hook hook) {
  /* TC_ACT_UNSPEC: pass, and let later filters on the hook run too. */
  if (ipv4_only && skb->protocol != bpf_htons(ETH_P_IP)) return TC_ACT_UNSPEC;
  account(skb->ifindex, hook, skb->len);
  return TC_ACT_UNSPEC;
}

SEC("tc")
int bpfex_tc_ingress(struct __sk_buff *skb) { return tc_count(skb, BPFEX_HOOK_TC_INGRESS); }

SEC("tc")
int bpfex_tc_egress(struct __sk_buff *skb) { return tc_count(skb, BPFEX_HOOK_TC_EGRESS); }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
