// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* vpn_router: the data path of seed 000's VPN router, as far as metrics see it.
 *
 * One object, three programs sharing its maps:
 *   vpn_xdp         XDP on the external interface: counts, enforces the
 *                   policy (IP -> role, destination -> zone, (role, zone) ->
 *                   ACL; denied packets are dropped) and keeps the tunnel
 *                   sessions (handshakes, data messages, replay window).
 *   vpn_tc_ingress  TC ingress: counts; enforces and keeps sessions instead of
 *                   XDP when the policy_hook global says so (no XDP).
 *   vpn_tc_egress   TC egress: counts; data messages leaving for a tunnel are
 *                   the session's encrypted packets.
 * Every run also records its own duration (bpf_ktime_get_ns) in a per-CPU
 * log2 histogram per hook, unless the latency global is 0.
 *
 * TC programs that pass return TC_ACT_UNSPEC, not TC_ACT_OK, so filters of
 * other programs on the same hook still run (TC_ACT_OK ends the chain).
 *
 * Hot-path counters live in per-CPU arrays (no lock, no atomic, ~1 ns); the
 * session map is shared (replay windows must be), with atomic adds.
 * The layouts are bpfex_abi.h's; the rules read them through BTF. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpfex_abi.h"
#include "bpfex_log2.h"

/* Load-time settings (config bpf.objects[].globals). */
const volatile __u16 tunnel_port = 51820;  /* UDP port of the tunnel */
const volatile __u8 policy_hook = 0;       /* 0: XDP enforces; 1: TC ingress does */
const volatile __u8 latency = 1;           /* 0: no latency histogram (saves 2 ktime calls) */
const volatile __u8 policy = 1;            /* 0: count only (no policy, no sessions) */
/* Never read: it puts the ABI's enums in this object's BTF (bpfex_abi.h). */
const volatile struct vpn_abi_enums vpn_abi = {};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, VPN_MAX_IFINDEX);
  __type(key, __u32);
  __type(value, struct vpn_if_stats);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} stats_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 3);
  __type(key, __u32);
  __type(value, struct vpn_latency);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} latency_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct vpn_counters);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} counters_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10000);
  __type(key, struct vpn_ip_key);
  __type(value, struct vpn_role);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ip_role_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 100);
  __type(key, struct vpn_acl_key);
  __type(value, struct vpn_acl);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} role_acl_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1024);
  __type(key, struct vpn_zone_key);
  __type(value, struct vpn_zone);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} network_zone_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, struct vpn_role_name);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} role_names SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct vpn_violation_key);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} violations_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct vpn_session);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} session_key_map SEC(".maps");

/* What one program run has in hand. */
struct run {
  struct vpn_counters *c; /* may be NULL only if the array lookup fails (it cannot) */
  enum vpn_component component;
  __u64 now; /* the run's start (bpf_ktime_get_ns), 0 if not taken: one clock read serves all */
};

static __always_inline void op(struct run *r, enum vpn_map_id map, enum vpn_map_op o) {
  if (r->c) r->c->map_ops[map * VPN_OPS + o] += 1;
}

static __always_inline void error(struct run *r, enum vpn_error e) {
  if (r->c) r->c->errors[r->component * VPN_ERRORS + e] += 1;
}

static __always_inline void lookup_result(struct run *r, enum vpn_policy_map map, int hit) {
  if (r->c) r->c->policy_lookups[map * 2 + (hit ? 0 : 1)] += 1;
}

/* The policy verdict for an IPv4 packet from saddr to daddr. */
static __always_inline enum vpn_action check_policy(struct run *r, __u32 saddr, __u32 daddr) {
  struct vpn_ip_key ik = {.addr = saddr};
  struct vpn_role *role = bpf_map_lookup_elem(&ip_role_map, &ik);
  op(r, VPN_MAP_IP_ROLE, VPN_OP_LOOKUP);
  lookup_result(r, VPN_POLICY_IP_ROLE, role != 0);

  struct vpn_zone_key zk = {.prefixlen = 32, .addr = daddr};
  struct vpn_zone *zone = bpf_map_lookup_elem(&network_zone_map, &zk);
  op(r, VPN_MAP_NETWORK_ZONE, VPN_OP_LOOKUP);
  lookup_result(r, VPN_POLICY_NETWORK_ZONE, zone != 0);

  struct vpn_acl_key ak = {.role_id = role ? role->role_id : 0, .zone_id = zone ? zone->zone_id : 0};
  struct vpn_acl *acl = bpf_map_lookup_elem(&role_acl_map, &ak);
  op(r, VPN_MAP_ROLE_ACL, VPN_OP_LOOKUP);
  lookup_result(r, VPN_POLICY_ROLE_ACL, acl != 0);
  if (acl && acl->action == VPN_ACTION_PASS) return VPN_ACTION_PASS;

  struct vpn_violation_key vk = {.role_id = ak.role_id, .rule_id = acl ? acl->rule_id : 0};
  __u64 *n = bpf_map_lookup_elem(&violations_map, &vk);
  if (n) {
    *n += 1;
  } else {
    __u64 one = 1;
    if (bpf_map_update_elem(&violations_map, &vk, &one, BPF_NOEXIST) != 0) {
      n = bpf_map_lookup_elem(&violations_map, &vk); /* another CPU created it */
      if (n) *n += 1;
      else error(r, VPN_ERR_MAP_UPDATE_FAILED);
    }
  }
  return VPN_ACTION_DROP;
}

/* Marks `counter` seen in the session's 64-message replay window; 0 if it was
 * seen already or is older than the window. */
static __always_inline int replay_ok(struct vpn_session *s, __u64 counter) {
  if (counter > s->max_counter) {
    __u64 shift = counter - s->max_counter;
    s->window = shift >= 64 ? 1 : (s->window << shift) | 1;
    s->max_counter = counter;
    return 1;
  }
  __u64 age = s->max_counter - counter;
  if (age >= 64) return 0;
  __u64 bit = 1ULL << age;
  if (s->window & bit) return 0;
  s->window |= bit;
  return 1;
}

/* A tunnel message arriving (ingress). Returns the verdict: messages that a
 * VPN would reject (replayed, unauthenticated, undecryptable) are dropped. */
static __always_inline enum vpn_action tunnel_in(struct run *r, struct vpn_tunnel_hdr *h, __u32 payload) {
  __u32 id = bpf_ntohl(h->tunnel_id);
  struct vpn_session *s = bpf_map_lookup_elem(&session_key_map, &id);
  op(r, VPN_MAP_SESSION_KEY, VPN_OP_LOOKUP);
  __u64 now = r->now ? r->now : bpf_ktime_get_ns();

  switch (h->type) {
    case VPN_MSG_HANDSHAKE:
      if (s) {
        __sync_fetch_and_add(&s->key_rotations, 1);
        s->key_epoch = h->key_epoch;
        s->max_counter = 0;
        s->window = 0;
        s->last_seen_ns = now;
      } else {
        struct vpn_session fresh = {.key_epoch = h->key_epoch, .last_seen_ns = now};
        op(r, VPN_MAP_SESSION_KEY, VPN_OP_UPDATE);
        if (bpf_map_update_elem(&session_key_map, &id, &fresh, BPF_NOEXIST) != 0) error(r, VPN_ERR_MAP_UPDATE_FAILED);
      }
      return VPN_ACTION_PASS;
    case VPN_MSG_DATA:
      if (!s) {
        error(r, VPN_ERR_UNKNOWN_SESSION);
        return VPN_ACTION_DROP;
      }
      s->last_seen_ns = now;
      if (payload == 0 || (payload & 15) != 0) {
        __sync_fetch_and_add(&s->decrypt_failure, 1);
        return VPN_ACTION_DROP;
      }
      if (h->key_epoch != s->key_epoch) {
        __sync_fetch_and_add(&s->auth_failure, 1);
        return VPN_ACTION_DROP;
      }
      if (!replay_ok(s, bpf_be64_to_cpu(h->counter))) {
        __sync_fetch_and_add(&s->replay_detected, 1);
        return VPN_ACTION_DROP;
      }
      __sync_fetch_and_add(&s->decrypted, 1);
      return VPN_ACTION_PASS;
    case VPN_MSG_CLOSE:
      op(r, VPN_MAP_SESSION_KEY, VPN_OP_DELETE);
      if (bpf_map_delete_elem(&session_key_map, &id) != 0) error(r, VPN_ERR_UNKNOWN_SESSION);
      return VPN_ACTION_PASS;
    default:
      error(r, VPN_ERR_BAD_MESSAGE);
      return VPN_ACTION_DROP;
  }
}

/* A data message leaving for a tunnel (egress): the session sealed it. */
static __always_inline void tunnel_out(struct run *r, struct vpn_tunnel_hdr *h) {
  if (h->type != VPN_MSG_DATA) return;
  __u32 id = bpf_ntohl(h->tunnel_id);
  struct vpn_session *s = bpf_map_lookup_elem(&session_key_map, &id);
  op(r, VPN_MAP_SESSION_KEY, VPN_OP_LOOKUP);
  if (!s) {
    error(r, VPN_ERR_UNKNOWN_SESSION);
    return;
  }
  __sync_fetch_and_add(&s->encrypted, 1);
  s->last_seen_ns = r->now ? r->now : bpf_ktime_get_ns();
}

/* Policy and sessions for an IPv4 packet in [data, data_end). `enforce`:
 * this hook applies the policy and keeps ingress sessions. */
static __always_inline enum vpn_action inspect(struct run *r, void *data, void *data_end, int enforce, int egress) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) return VPN_ACTION_PASS;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > data_end) {
    error(r, VPN_ERR_TRUNCATED_HEADER);
    return VPN_ACTION_PASS;
  }
  if (enforce && check_policy(r, ip->saddr, ip->daddr) == VPN_ACTION_DROP) return VPN_ACTION_DROP;
  if ((!enforce && !egress) || ip->protocol != IPPROTO_UDP) return VPN_ACTION_PASS;

  __u32 ihl = ip->ihl * 4;
  if (ihl < sizeof(*ip)) return VPN_ACTION_PASS;
  struct udphdr *udp = (void *)ip + ihl;
  if ((void *)(udp + 1) > data_end) return VPN_ACTION_PASS;
  if (udp->dest != bpf_htons(tunnel_port)) return VPN_ACTION_PASS;
  struct vpn_tunnel_hdr *h = (void *)(udp + 1);
  __u32 udp_len = bpf_ntohs(udp->len);
  if ((void *)(h + 1) > data_end || udp_len < sizeof(*udp) + sizeof(*h)) {
    error(r, VPN_ERR_TRUNCATED_HEADER);
    return enforce ? VPN_ACTION_DROP : VPN_ACTION_PASS;
  }
  if (egress) {
    tunnel_out(r, h);
    return VPN_ACTION_PASS;
  }
  return tunnel_in(r, h, udp_len - sizeof(*udp) - sizeof(*h));
}

static __always_inline void account(__u32 ifindex, enum bpfex_hook hook, enum vpn_action action, __u64 len) {
  __u32 row = ifindex < VPN_MAX_IFINDEX ? ifindex : 0;
  struct vpn_if_stats *st = bpf_map_lookup_elem(&stats_map, &row);
  if (!st) return;
  __u32 slot = hook * 2 + action;
  if (slot < 6) {
    st->packets[slot] += 1;
    st->bytes[slot] += len;
  }
}

static __always_inline void record_latency(enum bpfex_hook hook, __u64 t0) {
  __u64 ns = bpf_ktime_get_ns() - t0;
  __u32 k = hook;
  struct vpn_latency *l = bpf_map_lookup_elem(&latency_map, &k);
  if (!l) return;
  l->count += 1;
  l->sum_ns += ns;
  if (ns == 0) {
    l->zero += 1;
    return;
  }
  __u32 slot = bpfex_log2_ceil(ns);
  if (slot >= VPN_LATENCY_SLOTS) slot = VPN_LATENCY_SLOTS - 1;
  l->slots[slot] += 1;
}

static __always_inline enum vpn_action run(void *data, void *data_end, __u32 ifindex, __u64 len,
                                           enum bpfex_hook hook, int enforce, int egress) {
  __u64 t0 = latency ? bpf_ktime_get_ns() : 0;
  enum vpn_action action = VPN_ACTION_PASS;
  if (policy) {
    __u32 zero = 0;
    struct run r = {.c = bpf_map_lookup_elem(&counters_map, &zero),
                    .component = hook == BPFEX_HOOK_XDP ? VPN_COMPONENT_XDP : VPN_COMPONENT_TC,
                    .now = t0};
    action = inspect(&r, data, data_end, enforce, egress);
    op(&r, VPN_MAP_STATS, VPN_OP_LOOKUP);
  }
  account(ifindex, hook, action, len);
  if (latency) record_latency(hook, t0);
  return action;
}

SEC("xdp")
int vpn_xdp(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  enum vpn_action a = run(data, data_end, ctx->ingress_ifindex, (__u64)(data_end - data), BPFEX_HOOK_XDP,
                          policy_hook == 0, 0);
  return a == VPN_ACTION_DROP ? XDP_DROP : XDP_PASS;
}

SEC("tc")
int vpn_tc_ingress(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  enum vpn_action a = run(data, data_end, skb->ifindex, skb->len, BPFEX_HOOK_TC_INGRESS, policy_hook == 1, 0);
  return a == VPN_ACTION_DROP ? TC_ACT_SHOT : TC_ACT_UNSPEC;
}

SEC("tc")
int vpn_tc_egress(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  run(data, data_end, skb->ifindex, skb->len, BPFEX_HOOK_TC_EGRESS, 0, 1);
  return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
