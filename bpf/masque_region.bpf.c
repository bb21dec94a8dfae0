// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* masque_region: no program, two maps: the masque-vpn server's counter region
 * and its per-client table (bpf/include/masque_counters.h), created with the
 * header's BTF and pinned by name where the server maps them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "masque_counters.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct masque_counters);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} masque_counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, MASQUE_MAX_CLIENTS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct masque_client);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} masque_clients SEC(".maps");

char LICENSE[] SEC("license") = "Dual BSD/GPL";
