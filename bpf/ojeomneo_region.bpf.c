// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* ojeomneo_region: no program, three maps: the ojeomneo service's counter
 * region (bpf/include/ojeomneo_counters.h), created with the header's BTF
 * and pinned by name where the service maps them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "ojeomneo_counters.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct ojeomneo_counters);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ojeomneo_counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, OJEOMNEO_ROUTE_SLOTS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct ojeomneo_route);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ojeomneo_routes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, OJEOMNEO_BUSINESS_SLOTS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct ojeomneo_business);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ojeomneo_business SEC(".maps");

char LICENSE[] SEC("license") = "Dual BSD/GPL";
