// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* The baselines of bench/prog_cost: programs that do nothing but pass. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int empty_xdp(struct xdp_md *ctx) { return XDP_PASS; }

SEC("tc")
int empty_tc(struct __sk_buff *skb) { return TC_ACT_UNSPEC; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
