#include "engine/process_collector.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>

namespace bpfex::engine {

using base::Error;
using base::Result;
using metrics::FamilyOptions;
using metrics::MetricType;

namespace {

Result<std::string> slurp(const char* path) {
  std::ifstream in(path);
  if (!in) return Error::fromErrno(errno, std::string("read ") + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<double> bootTime() {
  static double cached = -1;
  if (cached >= 0) return cached;
  auto s = slurp("/proc/stat");
  if (!s) return std::move(s).error();
  const size_t p = s->find("\nbtime ");
  if (p == std::string::npos) return Error::msg("read /proc/stat: no btime line");
  cached = std::strtod(s->c_str() + p + 7, nullptr);
  return cached;
}

}  // namespace

Result<ProcessStats> readProcessStats() {
  auto stat = slurp("/proc/self/stat");
  if (!stat) return std::move(stat).error();
  // Fields after the command name, which may hold spaces and parentheses.
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) return Error::msg("read /proc/self/stat: unexpected format");
  std::istringstream in(stat->substr(close + 2));
  std::string f[50];
  size_t n = 0;
  while (n < 50 && (in >> f[n])) ++n;
  // f[0] is field 3 (state): field k is f[k - 3].
  if (n < 22) return Error::msg("read /proc/self/stat: only " + std::to_string(n) + " fields");
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  ProcessStats ps;
  ps.cpu_seconds = (std::stod(f[14 - 3]) + std::stod(f[15 - 3])) / ticks;
  ps.threads = std::stod(f[20 - 3]);
  ps.virtual_bytes = std::stod(f[23 - 3]);
  ps.resident_bytes = std::stod(f[24 - 3]) * page;
  auto bt = bootTime();
  if (!bt) return std::move(bt).error();
  ps.start_time_seconds = bt.value() + std::stod(f[22 - 3]) / ticks;

  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return Error::fromErrno(errno, "open /proc/self/fd");
  size_t fds = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++fds;
  closedir(d);
  ps.open_fds = static_cast<double>(fds > 0 ? fds - 1 : 0);  // minus the DIR's own fd
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) ps.max_fds = static_cast<double>(rl.rlim_cur);
  return ps;
}

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
  for (const auto& [slot, opts] : defs) {
    auto f = r.family(opts);
    if (!f) return std::move(f).error();
    *slot = f.value();
  }
  return Collector([fams](metrics::Registry&) -> base::Status {
    auto ps = readProcessStats();
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
