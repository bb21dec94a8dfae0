#include "base/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace bpfex::base {

Status setLogLevel(std::string_view level) {
  if (level == "debug") spdlog::set_level(spdlog::level::debug);
  else if (level == "info") spdlog::set_level(spdlog::level::info);
  else if (level == "warn") spdlog::set_level(spdlog::level::warn);
  else if (level == "error") spdlog::set_level(spdlog::level::err);
  else
    return Error::msg("log level \"" + std::string(level) +
                      "\" is not one of debug, info, warn, error");
  return okStatus();
}

void initLogging() {
  auto logger = spdlog::stderr_color_mt("bpfex");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
}

}  // namespace bpfex::base
