// Logging: a thin layer over spdlog so the rest of the code names one API.
// Thread-safe (spdlog's default logger is).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

#include "base/result.h"

namespace bpfex::base {

// Sets the global level from a name ("debug", "info", "warn", "error").
// Returns an error naming the value when it is not one of those.
Status setLogLevel(std::string_view level);

// Sends log lines to stderr with a compact pattern (the daemon's stdout is
// kept for the URL and the CLI's output).
void initLogging();

}  // namespace bpfex::base

#define BPFEX_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define BPFEX_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define BPFEX_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define BPFEX_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
