/* Log2 histograms in BPF programs, in the convention bpfex's Lua helpers
 * (hist.log2_bounds, hist.from_log2) and native histograms expect:
 *
 *   slot k counts the values v with 2^(k-1) < v <= 2^k  (slot 0: v == 1),
 *   zero is counted apart, and the program keeps the exact sum.
 *
 * Slot k's upper bound is then exactly Prometheus' upper-inclusive le = 2^k,
 * and slot k is exactly native histogram (schema 0) bucket k, whose zero
 * bucket takes the zeros. (A floor(log2) slot, [2^k, 2^(k+1)), puts 2^(k+1)
 * one bucket too high for any inclusive le: ebpf_exporter's #488/#515.) */
#ifndef BPFEX_LOG2_H
#define BPFEX_LOG2_H

#include <linux/types.h>

/* ceil(log2(v)) for v >= 1: 1 -> 0, 2 -> 1, 3 and 4 -> 2, 5 -> 3.
 * floor(log2(v - 1)) + 1, by halving steps the verifier bounds. */
static __always_inline __u32 bpfex_log2_ceil(__u64 v) {
  if (v <= 1) return 0;
  __u64 x = v - 1;
  __u32 k = 1;
  if (x >> 32) { x >>= 32; k += 32; }
  if (x >> 16) { x >>= 16; k += 16; }
  if (x >> 8) { x >>= 8; k += 8; }
  if (x >> 4) { x >>= 4; k += 4; }
  if (x >> 2) { x >>= 2; k += 2; }
  if (x >> 1) { k += 1; }
  return k;
}

#endif
