/* The ojeomneo web service's counter region (seed 003): its RED metrics and
 * business counters, in shared memory bpfex reads without a syscall on
 * either side. The protocol is Ironpost's (ironpost_counters.h): bpfex
 * creates and pins the maps (the bundled object ojeomneo_region, from this
 * header); the service maps them read-write and shared, initialises them when
 * `abi` is not OJEOMNEO_COUNTERS_ABI, and adds with relaxed atomic adds.
 *
 * Labels the service chooses at run time (a route, a status code, a payment
 * method) live in slots: the service claims a free slot for a new label set
 * (writes the labels, then stores in_use last) and adds to it from then on.
 * The number of slots bounds the label values: a service that runs out
 * counts the request in `unslotted` instead of losing it silently.
 *
 * Three maps:
 *   ojeomneo_counters  one entry: gauges, the unslotted count, the pid
 *   ojeomneo_routes    one slot per (method, path template, status): requests,
 *                      the duration histogram, request and response bytes
 *   ojeomneo_business  one slot per (kind, label, label): orders, amounts,
 *                      menu views */
#ifndef OJEOMNEO_COUNTERS_H
#define OJEOMNEO_COUNTERS_H

#include <linux/types.h>

#include "bpfex_liveness.h"

#define OJEOMNEO_COUNTERS_ABI 2 /* 2: liveness at the end */
#define OJEOMNEO_ROUTE_SLOTS 128
#define OJEOMNEO_BUSINESS_SLOTS 128

/* Request duration (seconds): Prometheus' default buckets plus 2 s, so that
 * every latency SLO threshold (0.1, 0.5, 2) is a bucket bound. */
#define OJEOMNEO_DURATION_BUCKETS 12
#define OJEOMNEO_DURATION_BOUNDS_NS                                                               \
  { 5000000ULL, 10000000ULL, 25000000ULL, 50000000ULL, 100000000ULL, 250000000ULL, 500000000ULL, \
    1000000000ULL, 2000000000ULL, 2500000000ULL, 5000000000ULL, 10000000000ULL }

struct ojeomneo_counters {
  __u64 abi;
  __u64 start_time_ns;      /* CLOCK_REALTIME */
  __u64 pid;                /* the service's process: bpfex reads its memory from the host */
  __u64 active_connections; /* gauge */
  __u64 users_active;       /* gauge */
  __u64 unslotted;          /* requests and events with no free slot left */
  struct bpfex_liveness liveness; /* last: bpfex_liveness.h (start, heartbeat, stop) */
};

struct ojeomneo_route {
  __u64 in_use;
  char method[8];
  char path[48]; /* the route's template, e.g. /api/menus/:id */
  __u32 status;
  __u32 pad;
  __u64 requests;
  __u64 duration_buckets[OJEOMNEO_DURATION_BUCKETS + 1];
  __u64 duration_sum_ns;
  __u64 request_bytes;
  __u64 response_bytes;
};

enum ojeomneo_kind {
  OJEOMNEO_ORDERS = 1,       /* label1 status, label2 payment_method; value: orders */
  OJEOMNEO_ORDER_AMOUNT = 2, /* label1 payment_method; value: the amount, in won */
  OJEOMNEO_MENU_VIEWS = 3,   /* label1 category_id; value: views */
};

struct ojeomneo_business {
  __u64 in_use;
  enum ojeomneo_kind kind;
  __u32 pad;
  char label1[32];
  char label2[32];
  __u64 value;
};

#endif
