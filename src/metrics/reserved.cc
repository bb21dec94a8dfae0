#include "metrics/reserved.h"

#include <array>
#include <cstdlib>

#include "base/log.h"

namespace bpfex::metrics {

namespace {

// The process collector's families and the rest of the client libraries'
// standard process_* set (a rule exporting another process's figures must
// name them otherwise), then the series Prometheus adds to each scrape.
constexpr std::array<std::string_view, 15> kReserved = {
    "ALERTS",
    "ALERTS_FOR_STATE",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_virtual_memory_max_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_threads",
    "process_start_time_seconds",
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
};

}  // namespace

std::string reservedReason(std::string_view name) {
  if (name.substr(0, kSelfPrefix.size()) == kSelfPrefix)
    return "metric " + std::string(name) + " is reserved: the bpfex_ prefix belongs to bpfex's own metrics";
  for (std::string_view r : kReserved)
    if (name == r) return "metric " + std::string(name) + " is reserved: bpfex or Prometheus serves it";
  return {};
}

Family* selfFamily(Registry& registry, FamilyOptions options) {
  if (reservedReason(options.name).empty()) {
    BPFEX_LOG_ERROR("self-metric {} is not a reserved name (metrics/reserved.cc): a rule could claim it", options.name);
    std::abort();
  }
  auto f = registry.family(std::move(options));
  if (!f) {
    BPFEX_LOG_ERROR("self-metric: {}", f.error().message());
    std::abort();
  }
  return f.value();
}

}  // namespace bpfex::metrics
