/* The masque-vpn server's counter region (seed 002): the counters a MASQUE
 * (CONNECT-IP over QUIC) server keeps, in shared memory bpfex reads without a
 * syscall on either side. The protocol is Ironpost's (ironpost_counters.h):
 * bpfex creates and pins both maps (the bundled object masque_region, from
 * this header); the server maps them read-write and shared, initialises the
 * region when `abi` is not MASQUE_COUNTERS_ABI (zero, `abi` last), writes
 * its start time at every start, keeps `liveness` (bpfex_liveness.h), and
 * adds with relaxed atomic adds. Histograms are per-bucket counts (the
 * last +Inf) and an exact sum in nanoseconds; the server buckets integer
 * nanoseconds against the bounds below.
 *
 * Two maps:
 *   masque_counters  one entry: the server's own counters
 *   masque_clients   one entry per IP pool slot: the address the server gave
 *                    a client, its client_id (the address -> client table
 *                    the rule joins the kernel's per-address traffic with),
 *                    and the per-client histograms and stream counts. A slot
 *                    with in_use 0 is free; the server zeroes a slot before it
 *                    reuses it, then stores in_use last. */
#ifndef MASQUE_COUNTERS_H
#define MASQUE_COUNTERS_H

#include <linux/types.h>

#include "bpfex_liveness.h"

#define MASQUE_COUNTERS_ABI 2 /* 2: liveness at the end */
#define MASQUE_MAX_CLIENTS 256 /* pool slots */

/* packet processing, MASQUE request: 0.001 .. 1.0 s */
#define MASQUE_FAST_BUCKETS 7
#define MASQUE_FAST_BOUNDS_NS \
  { 1000000ULL, 5000000ULL, 10000000ULL, 50000000ULL, 100000000ULL, 500000000ULL, 1000000000ULL }
/* connection and QUIC stream duration: 1 .. 3600 s */
#define MASQUE_SLOW_BUCKETS 9
#define MASQUE_SLOW_BOUNDS_NS                                                                  \
  { 1000000000ULL, 5000000000ULL, 10000000000ULL, 30000000000ULL, 60000000000ULL, 300000000000ULL, \
    600000000000ULL, 1800000000000ULL, 3600000000000ULL }

struct masque_fast_histogram {
  __u64 buckets[MASQUE_FAST_BUCKETS + 1];
  __u64 sum_ns;
};

struct masque_slow_histogram {
  __u64 buckets[MASQUE_SLOW_BUCKETS + 1];
  __u64 sum_ns;
};

struct masque_counters {
  __u64 abi;
  __u64 start_time_ns; /* CLOCK_REALTIME */
  __u64 active_connections; /* gauge */
  __u64 total_connections;
  __u64 ip_pool_total;      /* gauge */
  __u64 ip_pool_used;       /* gauge */
  struct masque_fast_histogram processing_inbound;
  struct masque_fast_histogram processing_outbound;
  struct masque_fast_histogram connect_request; /* method CONNECT */
  struct {
    __u64 success;
    __u64 failed;
  } connect_requests;
  struct {
    __u64 connection;
    __u64 packet;
    __u64 auth;
    __u64 tun;
    __u64 masque;
  } errors;
  struct {
    __u64 invalid;
    __u64 oversized;
    __u64 processing_error;
  } drops;

  struct bpfex_liveness liveness; /* last: bpfex_liveness.h (start, heartbeat, stop) */
};

struct masque_client {
  __u64 in_use;     /* 1: assigned; stored last */
  __be32 addr;      /* the pool address given to the client (network order) */
  __u32 pad;
  char client_id[48];
  struct masque_slow_histogram connection_duration;
  struct masque_slow_histogram stream_duration;
  __u64 streams_bidirectional;
  __u64 streams_unidirectional;
};

#endif
