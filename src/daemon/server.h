// The daemon's wiring: registry, engine, collectors, HTTP, signals.
#pragma once

#include <functional>

#include "base/result.h"
#include "daemon/config.h"
#include "lua/rule.h"

namespace bpfex::daemon {

// Re-reads the configuration (file, environment, the original flags) for a reload.
using ConfigLoader = std::function<base::Result<Config>()>;

// Runs until SIGINT or SIGTERM; returns the process exit code. SIGHUP and
// POST /-/reload reload rules (and log level and tick-independent settings)
// through `reload`.
int runDaemon(const Config& cfg, ConfigLoader reload);

// The limits every entry into rule code runs under, from the configuration.
lua::RuleLimits ruleLimitsOf(const Config& cfg);

}  // namespace bpfex::daemon
