// host.*: facts about the machine: ifname(ifindex [, netns]), uptime(),
// num_cpus(), cpu_usage(), interface_up(name [, netns]), process_memory(pid),
// cgroup_memory(path).
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "base/clock.h"
#include "base/unique_fd.h"
#include "bpf/netns.h"
#include "lua/binding.h"

namespace bpfex::lua {
namespace {

// A rule names a namespace by its `ip netns` name only: a path could name a
// FIFO, a device or anything else the daemon can open.
std::string checkNetns(lua_State* L, int idx, const char* fn) {
  const std::string netns = luaL_optstring(L, idx, "");
  if (!netns.empty() && !bpf::isNetnsName(netns))
    luaL_error(L, "%s: netns must be a name under /var/run/netns (no '/', at most 255 bytes)", fn);
  return netns;
}

// Entries the ifname cache keeps per rule (each at most ~300 bytes) before
// it starts over.
constexpr size_t kIfnameCacheEntries = 4096;

struct HostState {
  // (netns, ifindex) -> (when looked up, name): a namespace switch costs a thread.
  std::map<std::pair<std::string, unsigned>, std::pair<double, std::string>> ifnames;
  // cpu id -> (total, idle) jiffies at this rule's previous cpu_usage().
  std::map<std::string, std::pair<double, double>> cpu_prev;
};

// host.ifname(ifindex [, netns]): the interface's name, looked up in a named
// network namespace when given (cached for a minute).
int hostIfname(lua_State* L) {
  const auto idx = static_cast<unsigned>(checkWhole(L, 1, "ifindex", 4294967295.0));
  const std::string netns = checkNetns(L, 2, "host.ifname");
  const double now = base::monotonicSeconds();
  auto& cache = domainState<HostState>(L).ifnames;
  if (cache.size() >= kIfnameCacheEntries && cache.find({netns, idx}) == cache.end()) cache.clear();
  auto& slot = cache[{netns, idx}];
  if (slot.first == 0 || now - slot.first > 60) {
    std::string name;
    (void)bpf::inNetns(netns, [&]() -> base::Status {
      char buf[IF_NAMESIZE] = {};
      if (if_indextoname(idx, buf) != nullptr) name = buf;
      return base::okStatus();
    });
    slot = {now, name};
  }
  if (slot.second.empty()) lua_pushnil(L);
  else lua_pushlstring(L, slot.second.data(), slot.second.size());
  return 1;
}

int hostUptime(lua_State* L) {
  std::ifstream in("/proc/uptime");
  double up = 0;
  in >> up;
  lua_pushnumber(L, up);
  return 1;
}

int hostNumCpus(lua_State* L) {
  lua_pushnumber(L, static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN)));
  return 1;
}

// Per-CPU busy percent since the previous call from this rule (first call:
// since boot). Returns {["0"] = 12.5, ...}.
int hostCpuUsage(lua_State* L) {
  std::ifstream in("/proc/stat");
  std::string line;
  HostState& st = domainState<HostState>(L);
  lua_newtable(L);
  while (std::getline(in, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] == ' ') continue;
    std::istringstream ss(line);
    std::string cpu;
    ss >> cpu;
    double v[10] = {};
    for (double& x : v) ss >> x;
    const double idle = v[3] + v[4], total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    const std::string id = cpu.substr(3);
    auto& prev = st.cpu_prev[id];
    const double dt = total - prev.first, di = idle - prev.second;
    prev = {total, idle};
    lua_pushnumber(L, dt > 0 ? 100.0 * (dt - di) / dt : 0);
    lua_setfield(L, -2, id.c_str());
  }
  return 1;
}

// Up and running (IFF_UP and IFF_RUNNING: operstate up or unknown, as the
// kernel derives IFF_RUNNING), false if not, nil if there is no such
// interface, in bpfex's namespace or a named one (sysfs would show only the
// namespace it was mounted in, so ask the kernel there instead).
int hostInterfaceUp(lua_State* L) {
  const std::string name = luaL_checkstring(L, 1);
  const std::string netns = checkNetns(L, 2, "host.interface_up");
  if (name.empty() || name.size() >= IF_NAMESIZE || name.find('/') != std::string::npos)
    return luaL_error(L, "bad interface name");
  int flags = -1;
  (void)bpf::inNetns(netns, [&]() -> base::Status {
    base::UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq req{};
    std::memcpy(req.ifr_name, name.data(), name.size());
    if (sock.get() >= 0 && ioctl(sock.get(), SIOCGIFFLAGS, &req) == 0) flags = req.ifr_flags;
    return base::okStatus();
  });
  if (flags < 0) lua_pushnil(L);
  else lua_pushboolean(L, (flags & IFF_UP) != 0 && (flags & IFF_RUNNING) != 0);
  return 1;
}

double hostMemory() {
  std::ifstream mi("/proc/meminfo");
  for (std::string key; mi >> key;) {
    double kb = 0;
    std::string unit;
    mi >> kb >> unit;
    if (key == "MemTotal:") return kb * 1024;
  }
  return 0;
}

// One number from a cgroupfs file ("max" as 0); false when there is none.
bool readCgroupNumber(const std::string& path, double* v) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return false;
  *v = text == "max" ? 0 : std::strtod(text.c_str(), nullptr);
  return true;
}

// host.cgroup_memory(path) -> {current_bytes, limit_bytes}: a cgroup's
// memory, as its OOM killer counts it, from cgroupfs alone: v2
// (memory.current, memory.max) or v1's memory controller
// (memory.usage_in_bytes, memory.limit_in_bytes). The limit is the host's
// memory when none is set. It needs no /proc: it works under the unit's
// ProtectProc=invisible (hidepid) and for a service in another PID namespace
// (a container), where process_memory(pid) cannot see the process. nil and
// why when there is no such cgroup.
int hostCgroupMemory(lua_State* L) {
  size_t len = 0;
  const char* p = luaL_checklstring(L, 1, &len);
  std::string path(p, len);
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  if (path.size() > 4096 || path.find('\0') != std::string::npos || ("/" + path + "/").find("/../") != std::string::npos)
    return luaL_error(L, "host.cgroup_memory: a cgroup path under /sys/fs/cgroup, without \"..\"");
  double current = 0, limit = 0;
  const std::string v2 = "/sys/fs/cgroup/" + path, v1 = "/sys/fs/cgroup/memory/" + path;
  if (readCgroupNumber(v2 + "/memory.current", &current)) {
    (void)readCgroupNumber(v2 + "/memory.max", &limit);
  } else if (readCgroupNumber(v1 + "/memory.usage_in_bytes", &current)) {
    (void)readCgroupNumber(v1 + "/memory.limit_in_bytes", &limit);
    if (limit >= 9.2e18) limit = 0;  // v1's "no limit" (PAGE_COUNTER_MAX pages)
  } else {
    return nilAnd(L, "no memory cgroup " + path + " (v2 memory.current or v1 memory.usage_in_bytes)");
  }
  const double host = hostMemory();
  if (limit <= 0 || (host > 0 && limit > host)) limit = host;
  lua_newtable(L);
  lua_pushnumber(L, current);
  lua_setfield(L, -2, "current_bytes");
  lua_pushnumber(L, limit);
  lua_setfield(L, -2, "limit_bytes");
  return 1;
}

// The memory limit of a process: its cgroup's memory.max (cgroup v2), or
// the host's memory when that is "max" or absent.
double memoryLimit(const std::string& pid) {
  double limit = 0;
  std::ifstream cg("/proc/" + pid + "/cgroup");
  for (std::string line; std::getline(cg, line);) {
    if (line.rfind("0::", 0) != 0) continue;
    const std::string path = line.substr(3);
    if (path.find("..") != std::string::npos) break;
    (void)readCgroupNumber("/sys/fs/cgroup" + path + "/memory.max", &limit);  // "max": 0
  }
  return limit > 0 ? limit : hostMemory();
}

// Another process's memory, as an alert on it needs: its resident bytes
// (/proc/<pid>/statm) and the limit it runs under. nil and why when the
// process is gone.
int hostProcessMemory(lua_State* L) {
  const double pid_num = static_cast<double>(checkWhole(L, 1, "pid", 4194304.0));
  if (pid_num < 1) return luaL_error(L, "host.process_memory: pid must be positive");
  const std::string pid = std::to_string(static_cast<long>(pid_num));
  std::ifstream statm("/proc/" + pid + "/statm");
  double pages_total = 0, pages_resident = -1;
  statm >> pages_total >> pages_resident;
  if (!statm || pages_resident < 0) return nilAnd(L, "no process " + pid);
  const double limit = memoryLimit(pid);
  lua_newtable(L);
  lua_pushnumber(L, pages_resident * static_cast<double>(sysconf(_SC_PAGESIZE)));
  lua_setfield(L, -2, "resident_bytes");
  lua_pushnumber(L, limit);
  lua_setfield(L, -2, "limit_bytes");
  return 1;
}

}  // namespace

void openHostApi(Binder& b) {
  auto* st = b.ownState<HostState>();
  b.functions("host", {{"ifname", &guarded<&hostIfname>}, {"uptime", &guarded<&hostUptime>},
                       {"cpu_usage", &guarded<&hostCpuUsage>}, {"num_cpus", &guarded<&hostNumCpus>},
                       {"interface_up", &guarded<&hostInterfaceUp>},
                       {"process_memory", &guarded<&hostProcessMemory>},
                       {"cgroup_memory", &guarded<&hostCgroupMemory>}},
              st);
}

}  // namespace bpfex::lua
