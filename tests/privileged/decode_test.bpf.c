// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Test-only object: maps whose keys and values exercise every BTF shape the
 * decoder handles. The tests fill them from user space and check that bpfex
 * decodes every field exactly. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "decode_test.h"

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 64);
  __type(key, struct test_key);
  __type(value, struct test_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} decode_pcpu SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, struct test_key);
  __type(value, struct test_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} decode_hash SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 8);
  __type(key, __u32);
  __type(value, __u64);
} decode_array SEC(".maps");

/* Keeps the maps referenced by a program, as real objects do. */
SEC("xdp")
int decode_touch(struct xdp_md *ctx) {
  __u32 k = 0;
  __u64 *v = bpf_map_lookup_elem(&decode_array, &k);
  if (v) *v += 1;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
