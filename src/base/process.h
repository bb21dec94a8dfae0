// This process's facts from /proc/self, read in one place: what the
// process_* self-metrics serve and what bpfex.process() gives rules.
#pragma once

#include "base/result.h"

namespace bpfex::base {

struct ProcessStats {
  double cpu_seconds = 0;  // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double threads = 0;
  double start_time_seconds = 0;  // Unix time, as process_start_time_seconds
};

// Reads the stats of this process. Errors name the /proc file.
Result<ProcessStats> readProcessStats();

}  // namespace bpfex::base
