// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* ironpost_region: no program, one map. Loading this object makes bpfex
 * create Ironpost's application counter region (bpf/include/
 * ironpost_counters.h) with the header's BTF and pin it by name, where the
 * daemon maps it. A pinned region is reused as it is on bpfex's next start,
 * so neither side loses counts when the other restarts. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "ironpost_counters.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct ironpost_counters);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ironpost_counters SEC(".maps");

char LICENSE[] SEC("license") = "Dual BSD/GPL";
