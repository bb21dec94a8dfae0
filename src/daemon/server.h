// The daemon's wiring: registry, engine, collectors, HTTP, signals.
#pragma once

#include "base/result.h"
#include "daemon/config.h"

namespace bpfex::daemon {

// Runs until SIGINT or SIGTERM; returns the process exit code.
int runDaemon(const Config& cfg);

// Checks the rule paths of the config: each exists and is a readable file or
// a directory. (Rule compilation joins this check with the Lua engine.)
base::Status checkRules(const Config& cfg);

}  // namespace bpfex::daemon
