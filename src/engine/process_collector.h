// The standard process_* family (client_golang's names and meanings), read
// from /proc/self once per tick: CPU seconds, resident and virtual memory,
// open and max fds, threads, start time.
#pragma once

#include "base/result.h"
#include "engine/engine.h"
#include "metrics/registry.h"

namespace bpfex::engine {

// Registers the families and returns the collector that fills them.
base::Result<Collector> makeProcessCollector(metrics::Registry& registry);

struct ProcessStats {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double threads = 0;
  double start_time_seconds = 0;  // Unix time
};

// Reads the stats of this process. Errors name the /proc file.
base::Result<ProcessStats> readProcessStats();

}  // namespace bpfex::engine
