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

}  // namespace bpfex::engine
