/* ironpost-client: an application keeping its counters in bpfex's counter
 * region (bpf/include/ironpost_counters.h), in plain C with raw bpf(2) and
 * mmap: no libbpf, no syscall per increment.
 *
 *   ironpost-client [--pin PATH] [--version V] [--commit C] [MODE]
 *     MODE: workload  the known increments tests/privileged/ironpost_test.py
 *                     expects (the default)
 *           loop      demo traffic: a log batch, a container event and now
 *                     and then a scan, every 100 ms, with a heartbeat, until
 *                     SIGTERM or SIGINT (then "stopped" in the region) or killed
 *           layout    prints each field's offset and size, for comparing
 *                     with the map's BTF
 *
 * Build: cc -O2 -D_GNU_SOURCE -I bpf/include examples/ironpost/client.c -o ironpost-client */

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ironpost_counters.h"
#include "bpfex_region.h"

static const __u64 kProcessingBounds[IRONPOST_PROCESSING_BUCKETS] = IRONPOST_PROCESSING_BOUNDS_NS;
static const __u64 kScanBounds[IRONPOST_SCAN_BUCKETS] = IRONPOST_SCAN_BOUNDS_NS;

#define add bpfex_add
#define set bpfex_set
#define OBSERVE_PROCESSING(r, ns) \
  bpfex_observe((r)->processing_buckets, &(r)->processing_sum_ns, kProcessingBounds, IRONPOST_PROCESSING_BUCKETS, ns)
#define OBSERVE_SCAN(r, ns) \
  bpfex_observe((r)->scan_buckets, &(r)->scan_sum_ns, kScanBounds, IRONPOST_SCAN_BUCKETS, ns)

static struct ironpost_counters *map_region(const char *pin) {
  return bpfex_region_map(pin, sizeof(struct ironpost_counters), 1);
}

/* A region of another layout (or none yet) is zeroed first; a restart goes on
 * counting. Either way the identity is this process's: a restart resets
 * uptime, an upgrade replaces version and commit. */
static void init_region(struct ironpost_counters *r, const char *version, const char *commit) {
  if (__atomic_load_n(&r->abi, __ATOMIC_ACQUIRE) != IRONPOST_COUNTERS_ABI) {
    memset(r, 0, sizeof *r);
    __atomic_store_n(&r->abi, IRONPOST_COUNTERS_ABI, __ATOMIC_RELEASE);
  }
  bpfex_set_string(r->version, sizeof r->version, version);
  bpfex_set_string(r->commit, sizeof r->commit, commit);
  set(&r->start_time_ns, bpfex_realtime_ns());
  set(&r->plugins_registered, 4);
}

/* SIGTERM or SIGINT in `loop`: say so in the region, then exit. */
static struct bpfex_liveness *g_liveness;
static void on_stop(int sig) {
  (void)sig;
  if (g_liveness) bpfex_writer_stop(g_liveness);
  _exit(0);
}

/* The known increments (tests/privileged/ironpost_test.py expects these,
 * once per run, from this client and from the Rust one alike). */
static void workload(struct ironpost_counters *r) {
  add(&r->logs_collected, 1000);
  add(&r->logs_processed, 990);
  add(&r->parse_errors.syslog, 4);
  add(&r->parse_errors.json, 5);
  add(&r->parse_errors.unknown, 1);
  add(&r->rule_matches, 37);
  add(&r->alerts_sent, 36);
  add(&r->logs_dropped, 3);
  set(&r->buffer_size, 128);
  static const __u64 batches[] = {50000, 100000, 100001, 700000, 1000000, 3000000, 20000000, 2000000000,
                                  20000000000ull};
  for (size_t i = 0; i < sizeof batches / sizeof batches[0]; ++i) OBSERVE_PROCESSING(r, batches[i]);

  set(&r->monitored_containers, 12);
  add(&r->policy_violations, 9);
  add(&r->isolations.disconnect.success, 3);
  add(&r->isolations.pause.success, 2);
  add(&r->isolations.pause.failure, 1);
  add(&r->isolations.stop.failure, 2);
  add(&r->isolation_failures, 3);
  add(&r->alerts_processed, 40);
  set(&r->policies_loaded, 7);
  static const __u64 scans[] = {50000000, 100000000, 2000000000, 400000000000ull};
  for (size_t i = 0; i < sizeof scans / sizeof scans[0]; ++i) OBSERVE_SCAN(r, scans[i]);
}

/* The demo: a steady trickle that makes every panel move. */
static void loop(struct ironpost_counters *r) {
  g_liveness = &r->liveness;
  signal(SIGTERM, on_stop);
  signal(SIGINT, on_stop);
  bpfex_writer_start(&r->liveness);
  unsigned seed = 1;
  for (unsigned n = 0;; ++n) {
    bpfex_writer_beat(&r->liveness);  /* every 100 ms: well inside BPFEX_WRITER_STALE_NS */
    seed = seed * 1103515245u + 12345u;
    unsigned lines = 50 + seed % 100;
    add(&r->logs_collected, lines);
    unsigned bad = seed % 7 == 0 ? 1 + seed % 3 : 0;
    add(&r->logs_processed, lines - bad);
    if (bad) add(seed % 2 ? &r->parse_errors.syslog : &r->parse_errors.json, bad);
    if (seed % 5 == 0) {
      add(&r->rule_matches, 1);
      add(&r->alerts_sent, 1);
      add(&r->alerts_processed, 1);
    }
    set(&r->buffer_size, seed % 512);
    OBSERVE_PROCESSING(r, 20000 + (seed % 5000) * 1000ull);
    set(&r->monitored_containers, 10 + (n / 100) % 5);
    if (seed % 23 == 0) {
      add(&r->policy_violations, 1);
      if (seed % 4 == 0) {
        add(&r->isolations.stop.failure, 1);
        add(&r->isolation_failures, 1);
      } else {
        add(seed % 3 ? &r->isolations.disconnect.success : &r->isolations.pause.success, 1);
      }
    }
    if (n % 300 == 0) OBSERVE_SCAN(r, 300000000ull + (seed % 20) * 100000000ull);
    usleep(100000);
  }
}

#define FIELD(f) printf("%s %zu %zu\n", #f, offsetof(struct ironpost_counters, f), sizeof(((struct ironpost_counters *)0)->f))
static void layout(void) {
  printf("size %zu\n", sizeof(struct ironpost_counters));
  FIELD(abi); FIELD(start_time_ns); FIELD(version); FIELD(commit); FIELD(plugins_registered);
  FIELD(logs_collected); FIELD(logs_processed); FIELD(parse_errors.syslog); FIELD(parse_errors.json);
  FIELD(parse_errors.unknown); FIELD(rule_matches); FIELD(alerts_sent); FIELD(buffer_size); FIELD(logs_dropped);
  FIELD(processing_buckets); FIELD(processing_sum_ns); FIELD(monitored_containers); FIELD(policy_violations);
  FIELD(isolations.disconnect.success); FIELD(isolations.disconnect.failure); FIELD(isolations.pause.success);
  FIELD(isolations.pause.failure); FIELD(isolations.stop.success); FIELD(isolations.stop.failure);
  FIELD(isolation_failures); FIELD(alerts_processed); FIELD(policies_loaded); FIELD(scan_buckets);
  FIELD(scan_sum_ns); FIELD(liveness.writer_pid); FIELD(liveness.heartbeat_ns); FIELD(liveness.writer_state);
}

int main(int argc, char **argv) {
  const char *pin = "/sys/fs/bpf/bpfex/" IRONPOST_COUNTERS_PIN, *version = "0.1.0", *commit = "unknown";
  const char *mode = "workload";
  for (int i = 1; i < argc; ++i) {
    if (i + 1 < argc && strcmp(argv[i], "--pin") == 0) pin = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--version") == 0) version = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--commit") == 0) commit = argv[++i];
    else if (argv[i][0] != '-') mode = argv[i];
    else {
      fprintf(stderr, "usage: %s [--pin PATH] [--version V] [--commit C] [workload|loop|layout]\n", argv[0]);
      return 2;
    }
  }
  if (strcmp(mode, "layout") == 0) {
    layout();
    return 0;
  }
  struct ironpost_counters *r = map_region(pin);
  if (!r) return 1;
  init_region(r, version, commit);
  if (strcmp(mode, "loop") == 0) loop(r);
  workload(r);
  return 0;
}
