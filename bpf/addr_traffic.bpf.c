// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* addr_traffic: packets and bytes per IPv4 peer address inside one prefix
 * (a VPN's client pool), by TC hook: on ingress the source address, on
 * egress the destination. On a VPN server's tunnel interface that is what
 * each client sent and what was sent to it. Per-CPU hash: no atomic, no lock.
 * Always passes the packet (TC_ACT_UNSPEC: later filters still run).
 * Seed 002's per-client traffic is a rule over this map joined with the
 * server's address -> client_id table (masque_counters.h). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpfex_abi.h"

/* Load-time settings (set by bpfex before load). */
const volatile __u32 prefix = 0;      /* network order: the pool, e.g. 10.99.0.0 */
const volatile __u32 prefix_mask = 0; /* network order: e.g. 255.255.255.0; 0 counts every address */
const volatile __u8 l2_len = 14;      /* bytes before the IP header: 14 Ethernet, 0 a TUN device */

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct bpfex_addr_key);
  __type(value, struct bpfex_iface_counters);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} bpfex_addr_stats SEC(".maps");

static __always_inline int count(struct __sk_buff *skb, enum bpfex_hook hook) {
  if (skb->protocol != bpf_htons(ETH_P_IP)) return TC_ACT_UNSPEC;
  __u8 vihl;
  __be32 addr;
  if (bpf_skb_load_bytes(skb, l2_len, &vihl, 1) != 0 || (vihl >> 4) != 4) return TC_ACT_UNSPEC;
  /* saddr at 12, daddr at 16 in the IPv4 header */
  if (bpf_skb_load_bytes(skb, l2_len + (hook == BPFEX_HOOK_TC_INGRESS ? 12 : 16), &addr, 4) != 0)
    return TC_ACT_UNSPEC;
  if ((addr & prefix_mask) != (prefix & prefix_mask)) return TC_ACT_UNSPEC;
  struct bpfex_addr_key key = {.addr = addr, .hook = hook};
  struct bpfex_iface_counters *c = bpf_map_lookup_elem(&bpfex_addr_stats, &key);
  if (c) {
    c->packets += 1;
    c->bytes += skb->len;
    return TC_ACT_UNSPEC;
  }
  struct bpfex_iface_counters first = {.packets = 1, .bytes = skb->len};
  if (bpf_map_update_elem(&bpfex_addr_stats, &key, &first, BPF_NOEXIST) != 0) {
    c = bpf_map_lookup_elem(&bpfex_addr_stats, &key); /* another CPU's first: ours is its own slot */
    if (c) {
      c->packets += 1;
      c->bytes += skb->len;
    }
  }
  return TC_ACT_UNSPEC;
}

SEC("tc")
int addr_tc_ingress(struct __sk_buff *skb) { return count(skb, BPFEX_HOOK_TC_INGRESS); }

SEC("tc")
int addr_tc_egress(struct __sk_buff *skb) { return count(skb, BPFEX_HOOK_TC_EGRESS); }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
