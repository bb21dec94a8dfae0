/* The ABI between bpfex's bundled BPF programs and its C++ side: plain C,
 * fixed-width types only. C++ includes this and static_asserts the sizes. */
#ifndef BPFEX_ABI_H
#define BPFEX_ABI_H

#include <linux/types.h>

/* Where a packet was counted. */
enum bpfex_hook {
  BPFEX_HOOK_XDP = 0,
  BPFEX_HOOK_TC_INGRESS = 1,
  BPFEX_HOOK_TC_EGRESS = 2,
};

/* iface_traffic: key and value of the per-CPU hash bpfex_iface_stats. */
struct bpfex_iface_key {
  __u32 ifindex;
  enum bpfex_hook hook;
};

struct bpfex_iface_counters {
  __u64 packets;
  __u64 bytes;
};

/* addr_traffic: key of the per-CPU hash bpfex_addr_stats (value: struct
 * bpfex_iface_counters). The address is the IPv4 peer inside the configured
 * prefix: the source on ingress, the destination on egress. */
struct bpfex_addr_key {
  __be32 addr; /* network byte order */
  enum bpfex_hook hook;
};


/* ---- vpn_router: seed 000's VPN router data path ------------------------- */

enum vpn_action {
  VPN_ACTION_PASS = 0,
  VPN_ACTION_DROP = 1,
};

/* stats_map (per-CPU array, indexed by ifindex; ifindex 0 and those at or
 * above VPN_MAX_IFINDEX share row 0): packets and bytes by hook and action,
 * at [hook * 2 + action]. An array, not a hash: a per-CPU array slot costs
 * the data path ~1 ns, a hash lookup ~26 ns (reference/baselines.md).
 * The direction follows from the hook (XDP and TC ingress: ingress). */
#define VPN_MAX_IFINDEX 1024
struct vpn_if_stats {
  __u64 packets[6];
  __u64 bytes[6];
};

/* latency_map (per-CPU array, one slot per hook): time from the program's
 * start to its verdict, bpf_ktime_get_ns(), as a log2 histogram of
 * nanoseconds in bpfex_log2.h's convention: slot k counts (2^(k-1), 2^k] ns,
 * the last slot also everything above, `zero` counts 0 ns, and `sum_ns` is
 * the exact sum. */
#define VPN_LATENCY_SLOTS 32
struct vpn_latency {
  __u64 count;
  __u64 sum_ns;
  __u64 slots[VPN_LATENCY_SLOTS];
  __u64 zero;
};

/* ip_role_map (hash): an IPv4 address (network byte order) to its role. */
struct vpn_ip_key {
  __u32 addr;
};
struct vpn_role {
  __u32 role_id;
};

/* network_zone_map (LPM trie): destination prefix to zone. */
struct vpn_zone_key {
  __u32 prefixlen;
  __u32 addr;
};
struct vpn_zone {
  __u32 zone_id;
};

/* role_acl_map (hash): (role, zone) to a verdict. A role without an IP entry
 * is role 0; a destination in no zone is zone 0; a pair without an ACL entry
 * is denied by rule 0 (default deny). */
struct vpn_acl_key {
  __u32 role_id;
  __u32 zone_id;
};
struct vpn_acl {
  __u32 rule_id;
  enum vpn_action action;
};

/* role_names (array): role id to its name, for labels. */
struct vpn_role_name {
  char name[32];
};

/* violations_map (per-CPU hash): denied packets by role and ACL rule. */
struct vpn_violation_key {
  __u32 role_id;
  __u32 rule_id;
};

/* Policy maps whose lookups are counted. */
enum vpn_policy_map {
  VPN_POLICY_IP_ROLE = 0,
  VPN_POLICY_ROLE_ACL = 1,
  VPN_POLICY_NETWORK_ZONE = 2,
};

/* Maps whose data-path operations (helper calls) are counted. */
enum vpn_map_id {
  VPN_MAP_IP_ROLE = 0,
  VPN_MAP_ROLE_ACL = 1,
  VPN_MAP_NETWORK_ZONE = 2,
  VPN_MAP_SESSION_KEY = 3,
  VPN_MAP_STATS = 4,
};
enum vpn_map_op {
  VPN_OP_LOOKUP = 0,
  VPN_OP_UPDATE = 1,
  VPN_OP_DELETE = 2,
};

/* session_key_map (hash): one VPN session per tunnel id, updated by the data
 * path (the demo tunnel's wire format: vpn_tunnel_hdr below). */
struct vpn_session {
  __u64 encrypted;        /* data messages sealed and sent (egress) */
  __u64 decrypted;        /* data messages opened and accepted (ingress) */
  __u64 replay_detected;  /* counter outside or already in the replay window */
  __u64 auth_failure;     /* sealed with a key that is not the session's current one */
  __u64 decrypt_failure;  /* payload not a whole number of cipher blocks */
  __u64 key_rotations;    /* handshakes on an established session */
  __u64 last_seen_ns;     /* bpf_ktime_get_ns() of the last message */
  __u64 max_counter;      /* replay window: highest counter accepted */
  __u64 window;           /* replay window: bit i = counter max_counter - i seen */
  __u32 key_epoch;
  __u32 pad;
};

/* The demo tunnel's header, after UDP (port: the tunnel_port global), shaped
 * after WireGuard's transport messages. A real VPN data path would decrypt;
 * this one keeps the accounting a data path does. */
enum vpn_msg_type {
  VPN_MSG_HANDSHAKE = 1, /* establish the session, or rotate its key */
  VPN_MSG_DATA = 4,      /* sealed payload, a multiple of 16 bytes */
  VPN_MSG_CLOSE = 5,     /* tear the session down */
};
struct vpn_tunnel_hdr {
  __u8 type;
  __u8 key_epoch;
  __u16 reserved;
  __u32 tunnel_id; /* network byte order */
  __u64 counter;   /* network byte order */
};

/* Data-path errors by component and kind. Rules label them by name
 * (VPN_ERR_TRUNCATED_HEADER: error_type="truncated_header"). */
enum vpn_error {
  VPN_ERR_TRUNCATED_HEADER = 0,  /* header shorter than it says */
  VPN_ERR_UNKNOWN_SESSION = 1,   /* data or close for a tunnel with no session */
  VPN_ERR_MAP_UPDATE_FAILED = 2, /* a map update failed (map full) */
  VPN_ERR_BAD_MESSAGE = 3,       /* unknown tunnel message type */
};
enum vpn_component {
  VPN_COMPONENT_XDP = 0,
  VPN_COMPONENT_TC = 1,
};

/* counters_map (per-CPU array, one entry): the data path's own counters,
 * in one value so a program run looks it up once. */
#define VPN_POLICY_MAPS 3
#define VPN_MAPS 5
#define VPN_OPS 3
#define VPN_ERRORS 4
#define VPN_COMPONENTS 2
struct vpn_counters {
  __u64 policy_lookups[VPN_POLICY_MAPS * 2]; /* [map * 2 + (hit ? 0 : 1)] */
  __u64 map_ops[VPN_MAPS * VPN_OPS];         /* [map * 3 + op] */
  __u64 errors[VPN_COMPONENTS * VPN_ERRORS]; /* [component * VPN_ERRORS + error] */
};

/* The enums rules index the arrays above by. vpn_router.bpf.c keeps one of
 * these in .rodata so that every enum is in its BTF: rules read the names and
 * order from there (m:enum("bpfex_hook")) instead of copying them, and
 * tests/unit/abi_test.cc checks that each enum here is what they see. */
struct vpn_abi_enums {
  enum bpfex_hook hook;
  enum vpn_action action;
  enum vpn_policy_map policy_map;
  enum vpn_map_id map;
  enum vpn_map_op op;
  enum vpn_error error;
  enum vpn_component component;
  enum vpn_msg_type msg_type;
};

#endif
