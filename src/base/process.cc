#include "base/process.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <string>

#include "base/file.h"

namespace bpfex::base {
namespace {

Result<double> bootTime() {
  static double cached = -1;
  if (cached >= 0) return cached;
  auto s = readFile("/proc/stat", 1u << 20);
  if (!s) return std::move(s).error();
  const size_t p = s->find("\nbtime ");
  if (p == std::string::npos) return Error::msg("read /proc/stat: no btime line");
  cached = std::strtod(s->c_str() + p + 7, nullptr);
  return cached;
}

}  // namespace

Result<ProcessStats> readProcessStats() {
  auto stat = readFile("/proc/self/stat", 1u << 16);
  if (!stat) return std::move(stat).error();
  // Fields after the command name, which may hold spaces and parentheses.
  const size_t close = stat->rfind(')');
  if (close == std::string::npos || close + 2 > stat->size())
    return Error::msg("read /proc/self/stat: unexpected format");
  std::istringstream in(stat->substr(close + 2));
  std::string f[50];
  size_t n = 0;
  while (n < 50 && (in >> f[n])) ++n;
  // f[0] is field 3 (state): field k is f[k - 3].
  if (n < 22) return Error::msg("read /proc/self/stat: only " + std::to_string(n) + " fields");
  auto field = [&](size_t k) { return std::strtod(f[k - 3].c_str(), nullptr); };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  ProcessStats ps;
  ps.cpu_seconds = (field(14) + field(15)) / ticks;
  ps.threads = field(20);
  ps.virtual_bytes = field(23);
  ps.resident_bytes = field(24) * page;
  auto bt = bootTime();
  if (!bt) return std::move(bt).error();
  ps.start_time_seconds = bt.value() + field(22) / ticks;

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

}  // namespace bpfex::base
