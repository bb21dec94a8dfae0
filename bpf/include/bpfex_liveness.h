/* A region writer's liveness (docs/services.md, "A writer's life"): the last
 * fields of a counter region, so bpfex can tell a live application from a
 * dead one whose counters are still in shared memory.
 *
 * What the writer does:
 *   at start   the region's identity (start_time_ns, version, commit, where
 *              the layout has them) is its own: a restart resets uptime, an
 *              upgrade replaces version and commit; then writer_pid, a first
 *              heartbeat_ns, and writer_state = BPFEX_WRITER_RUNNING, last;
 *   every second (at most; a missed beat or two is fine) heartbeat_ns = now;
 *   at exit    writer_state = BPFEX_WRITER_STOPPED.
 * What bpfex does, each tick: a RUNNING writer whose heartbeat is under
 * BPFEX_WRITER_STALE_NS old is up; one that said STOPPED, or whose heartbeat
 * is older (killed, hung, its host's clock stepped past it), is down: the
 * catalog's `up` series is 0, and its gauges, uptime and build info stop
 * (go stale); its counters stay as they are, to be continued by the next
 * writer. A region whose writer never said anything (writer_state 0: a
 * one-shot writer, or one from before this protocol) has no `up` series
 * and is served as it is.
 * Times are CLOCK_REALTIME nanoseconds, the clock bpfex's ticks carry. */
#ifndef BPFEX_LIVENESS_H
#define BPFEX_LIVENESS_H

#include <linux/types.h>

#define BPFEX_WRITER_RUNNING 1
#define BPFEX_WRITER_STOPPED 2
#define BPFEX_WRITER_STALE_NS 3000000000ULL /* three missed beats */

struct bpfex_liveness {
  __u64 writer_pid;   /* the writer's pid, in its own PID namespace (for people) */
  __u64 heartbeat_ns; /* CLOCK_REALTIME */
  __u64 writer_state; /* 0: never said; BPFEX_WRITER_RUNNING; BPFEX_WRITER_STOPPED */
};

#endif
