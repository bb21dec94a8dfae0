/* Ironpost's application counter region (seed 001, "선택 A"): the counters
 * the daemon's modules keep as Arc<AtomicU64>, in shared memory that bpfex
 * reads without a syscall on either side.
 *
 * The region is a one-entry BPF array created with BPF_F_MMAPABLE and
 * described by BTF. bpfex creates and pins it (the bundled object
 * ironpost_region, from this header, so the layout has one source), at
 * <bpf.pin_path>/ironpost_counters. The application:
 *   1. opens the pin (BPF_OBJ_GET) and mmaps the map, read-write, shared;
 *   2. if `abi` is not IRONPOST_COUNTERS_ABI, zeroes the region and stores
 *      `abi`; then, at every start, writes its own version, commit and
 *      start_time_ns, and keeps `liveness` as bpfex_liveness.h says (a
 *      restart resets uptime, an upgrade replaces build_info, a dead daemon
 *      is served as down);
 *   3. increments fields with relaxed atomic adds (lock xadd: no syscall, no
 *      lock, ~1 ns uncontended) and stores gauges with atomic stores.
 * bpfex copies the whole region once per tick from its own mapping. It serves
 * nothing from a region whose `abi` it does not know.
 *
 * Histograms are per-bucket counts (not cumulative), the last bucket +Inf,
 * and the exact sum of the observations in nanoseconds: the application
 * compares an observation in integer nanoseconds against the bounds below, so
 * an observation on a bound lands in that bound's bucket exactly as
 * Prometheus' le says. Counts and sum are separate adds: a reader between
 * them sees a sum one observation behind its count (never a torn value).
 *
 * Applications include this with any C compiler (linux/types.h only); the
 * Rust example (examples/ironpost/rust) mirrors it as #[repr(C)] and its
 * test compares the two layouts through the map's BTF. */
#ifndef IRONPOST_COUNTERS_H
#define IRONPOST_COUNTERS_H

#include <linux/types.h>

#include "bpfex_liveness.h"

#define IRONPOST_COUNTERS_ABI 2 /* 2: liveness at the end */
#define IRONPOST_COUNTERS_PIN "ironpost_counters" /* under bpfex's bpf.pin_path */

/* PROCESSING_DURATION_BUCKETS (seconds): 100 µs .. 10 s. */
#define IRONPOST_PROCESSING_BUCKETS 10
#define IRONPOST_PROCESSING_BOUNDS_NS                                                   \
  { 100000ULL, 500000ULL, 1000000ULL, 5000000ULL, 10000000ULL, 50000000ULL, 100000000ULL, \
    500000000ULL, 1000000000ULL, 10000000000ULL }
/* SCAN_DURATION_BUCKETS (seconds): 100 ms .. 300 s. */
#define IRONPOST_SCAN_BUCKETS 9
#define IRONPOST_SCAN_BOUNDS_NS                                                             \
  { 100000000ULL, 500000000ULL, 1000000000ULL, 5000000000ULL, 10000000000ULL, 30000000000ULL, \
    60000000000ULL, 120000000000ULL, 300000000000ULL }

struct ironpost_parse_errors {
  __u64 syslog;
  __u64 json;
  __u64 unknown;
};

struct ironpost_isolation_result {
  __u64 success;
  __u64 failure;
};

struct ironpost_isolations {
  struct ironpost_isolation_result disconnect;
  struct ironpost_isolation_result pause;
  struct ironpost_isolation_result stop;
};

struct ironpost_counters {
  __u64 abi;           /* IRONPOST_COUNTERS_ABI once initialised; 0 before */
  __u64 start_time_ns; /* the daemon's start, CLOCK_REALTIME nanoseconds */
  char version[32];    /* NUL-terminated */
  char commit[48];
  __u64 plugins_registered; /* gauge */

  /* log pipeline */
  __u64 logs_collected;
  __u64 logs_processed;
  struct ironpost_parse_errors parse_errors;
  __u64 rule_matches;
  __u64 alerts_sent;
  __u64 buffer_size; /* gauge */
  __u64 logs_dropped;
  __u64 processing_buckets[IRONPOST_PROCESSING_BUCKETS + 1];
  __u64 processing_sum_ns;

  /* container guard */
  __u64 monitored_containers; /* gauge */
  __u64 policy_violations;
  struct ironpost_isolations isolations;
  __u64 isolation_failures;
  __u64 alerts_processed;
  __u64 policies_loaded; /* gauge */

  /* sbom scanner: scans the daemon runs itself (one-shot scans push) */
  __u64 scan_buckets[IRONPOST_SCAN_BUCKETS + 1];
  __u64 scan_sum_ns;

  struct bpfex_liveness liveness; /* last: bpfex_liveness.h */
};

#endif
