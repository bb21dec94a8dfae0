// /health: NetProbe's health document (seed 004), from what the daemon
// publishes, so it cannot disagree with /metrics:
//   {"status": "ok", "timestamp": RFC 3339,
//    "server": {"running", "port", "requests", "metrics", "collections", "last_collection"},

// status is "ok" while the last collection is younger than `stale_after`
// (the seed's troubleshooting bound is 30 s), "stale" past it, "starting"
// before the first; anything but "ok" answers 503, so a probe needs no JSON.
#pragma once

#include <cstdint>
#include <string>

#include "metrics/snapshot.h"

namespace bpfex::daemon {

struct HealthInput {
  double now_unix = 0;
  uint16_t port = 0;
  uint64_t requests = 0;     // HTTP requests answered, every endpoint
  size_t series = 0;         // series in the last published exposition
  uint64_t collections = 0;  // ticks published
  double last_collection_unix = 0;  // 0: none yet
  double stale_after_seconds = 30;
};

struct HealthResponse {
  int status = 200;
  std::string body;
};

HealthResponse health(const HealthInput& in);

// /status/tick: where the last tick's time went, the numbers
// bpfex_tick_phase_seconds carries, for tools that poll (bench/e2e.py):
//   {"tick": N, "seconds": wall, "phases": {phase: wall}, "cpu": {phase: CPU}}
// null (JSON) before the first tick.
std::string tickStatus(const metrics::TickStats* last_tick, uint64_t tick);

}  // namespace bpfex::daemon
