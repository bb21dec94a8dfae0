// Every path the daemon serves besides the exposition (server.cc's route
// table): validateConfig refuses a metrics_path that would shadow one, and
// runDaemon refuses to start a route that is not listed here, so a new
// endpoint cannot be forgotten in the check.
#pragma once

#include <string_view>

namespace bpfex::daemon {

inline constexpr std::string_view kEndpoints[] = {
    "/", "/api/v1/alerts", "/api/v1/rules", "/rules", "/-/reload", "/health", "/status/tick", "/healthz", "/readyz",
};

}  // namespace bpfex::daemon
