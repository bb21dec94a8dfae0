#include "engine/process_collector.h"

#include <utility>

#include "base/process.h"
#include "metrics/reserved.h"

namespace bpfex::engine {

using base::Result;
using metrics::FamilyOptions;
using metrics::MetricType;

Result<Collector> makeProcessCollector(metrics::Registry& r) {
  struct Fams {
    metrics::Family *cpu, *rss, *vsz, *open, *max, *threads, *start;
  } fams{};
  const std::pair<metrics::Family**, FamilyOptions> defs[] = {
      {&fams.cpu, {.name = "process_cpu_seconds_total", .help = "Total user and system CPU time spent in seconds.", .unit = "seconds", .type = MetricType::kCounter}},
      {&fams.rss, {.name = "process_resident_memory_bytes", .help = "Resident memory size in bytes.", .unit = "bytes", .type = MetricType::kGauge}},
      {&fams.vsz, {.name = "process_virtual_memory_bytes", .help = "Virtual memory size in bytes.", .unit = "bytes", .type = MetricType::kGauge}},
      {&fams.open, {.name = "process_open_fds", .help = "Number of open file descriptors.", .type = MetricType::kGauge}},
      {&fams.max, {.name = "process_max_fds", .help = "Maximum number of open file descriptors.", .type = MetricType::kGauge}},
      {&fams.threads, {.name = "process_threads", .help = "Number of OS threads in the process.", .type = MetricType::kGauge}},
      {&fams.start, {.name = "process_start_time_seconds", .help = "Start time of the process since unix epoch in seconds.", .unit = "seconds", .type = MetricType::kGauge}},
  };
  for (const auto& [slot, opts] : defs) *slot = metrics::selfFamily(r, opts);
  return Collector([fams](metrics::Registry&) -> base::Status {
    auto ps = base::readProcessStats();
    if (!ps) return std::move(ps).error();
    (void)fams.cpu->set({}, ps->cpu_seconds);
    (void)fams.rss->set({}, ps->resident_bytes);
    (void)fams.vsz->set({}, ps->virtual_bytes);
    (void)fams.open->set({}, ps->open_fds);
    (void)fams.max->set({}, ps->max_fds);
    (void)fams.threads->set({}, ps->threads);
    (void)fams.start->set({}, ps->start_time_seconds);
    return base::okStatus();
  });
}

}  // namespace bpfex::engine
