#include "bpf/trace_attach.h"

#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#include "base/log.h"
#include "bpf/object.h"

namespace bpfex::bpf {

using base::Error;
using base::Result;
using base::Status;

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

bool number(std::string_view s, uint64_t& out) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

struct Named {
  const char* name;
  uint64_t value;
};
constexpr Named kTypes[] = {{"hardware", PERF_TYPE_HARDWARE}, {"software", PERF_TYPE_SOFTWARE},
                            {"hw_cache", PERF_TYPE_HW_CACHE}, {"raw", PERF_TYPE_RAW}};
constexpr Named kSoftware[] = {
    {"cpu-clock", PERF_COUNT_SW_CPU_CLOCK},         {"task-clock", PERF_COUNT_SW_TASK_CLOCK},
    {"page-faults", PERF_COUNT_SW_PAGE_FAULTS},     {"context-switches", PERF_COUNT_SW_CONTEXT_SWITCHES},
    {"cpu-migrations", PERF_COUNT_SW_CPU_MIGRATIONS}, {"minor-faults", PERF_COUNT_SW_PAGE_FAULTS_MIN},
    {"major-faults", PERF_COUNT_SW_PAGE_FAULTS_MAJ}};
constexpr Named kHardware[] = {
    {"cpu-cycles", PERF_COUNT_HW_CPU_CYCLES},          {"instructions", PERF_COUNT_HW_INSTRUCTIONS},
    {"cache-references", PERF_COUNT_HW_CACHE_REFERENCES}, {"cache-misses", PERF_COUNT_HW_CACHE_MISSES},
    {"branch-instructions", PERF_COUNT_HW_BRANCH_INSTRUCTIONS}, {"branch-misses", PERF_COUNT_HW_BRANCH_MISSES},
    {"bus-cycles", PERF_COUNT_HW_BUS_CYCLES},          {"ref-cycles", PERF_COUNT_HW_REF_CPU_CYCLES}};

template <size_t N>
bool lookup(const Named (&table)[N], std::string_view s, uint64_t& out) {
  for (const Named& n : table)
    if (s == n.name) {
      out = n.value;
      return true;
    }
  return number(s, out);
}

bool isDir(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// What a failed tracing attach most likely means on this host, when the
// errno alone would mislead (libbpf falls back to tracefs's kprobe_events
// where the kernel has no kprobe PMU, and reports that file missing).
std::string tracingHint(AttachType type, const std::string& section, int e) {
  const bool kprobe = type == AttachType::kKprobe || type == AttachType::kKretprobe ||
                      (type == AttachType::kAuto && (section.starts_with("kprobe") || section.starts_with("kretprobe") ||
                                                     section.starts_with("ksyscall") || section.starts_with("kretsyscall")));
  if (kprobe && ::access("/sys/bus/event_source/devices/kprobe", F_OK) != 0)
    return " (this kernel has no kprobes: /sys/bus/event_source/devices/kprobe is missing, CONFIG_KPROBES; fentry, "
           "tp_btf or a tracepoint may reach the same place)";
  const bool tracepoint = type == AttachType::kTracepoint ||
                          (type == AttachType::kAuto && (section.starts_with("tp/") || section.starts_with("tracepoint/")));
  const bool uprobe = type == AttachType::kUprobe || type == AttachType::kUretprobe || type == AttachType::kUsdt ||
                      (type == AttachType::kAuto && (section.starts_with("uprobe") || section.starts_with("uretprobe") ||
                                                     section.starts_with("usdt")));
  if (uprobe && (e == EACCES || e == EPERM))
    return " (the kernel's uprobe PMU wants CAP_SYS_ADMIN, which the shipped unit does not grant: add it by a drop-in "
           "to trace user space, docs/configuration.md \"Tracing programs\")";
  if (tracepoint && (e == EACCES || e == EPERM))
    return " (a tracepoint's id is read from tracefs, events/<category>/<name>/id, which only root may read unless "
           "tracefs is mounted with gid=; tp_btf and raw_tracepoint need no tracefs)";
  return "";
}

}  // namespace

Result<PerfEventSpec> parsePerfEvent(std::string_view spec) {
  PerfEventSpec out;
  bool have_type = false, have_config = false;
  std::string_view config_text;
  for (std::string_view item : split(spec, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      return Error::msg("perf_event item \"" + std::string(item) + "\" is not key=value (type, config, frequency, period)");
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    uint64_t n = 0;
    if (key == "type") {
      if (!lookup(kTypes, value, n) || n > UINT32_MAX)
        return Error::msg("perf_event type \"" + std::string(value) + "\": expected hardware, software, hw_cache, raw or a number");
      out.type = static_cast<uint32_t>(n);
      have_type = true;
    } else if (key == "config") {
      config_text = value;
      have_config = true;
    } else if (key == "frequency" || key == "period") {
      if (!number(value, n) || n == 0)
        return Error::msg("perf_event " + std::string(key) + " \"" + std::string(value) + "\": expected a positive number");
      (key == "frequency" ? out.frequency : out.period) = n;
    } else {
      return Error::msg("perf_event item \"" + std::string(key) + "\" is not one of type, config, frequency, period");
    }
  }
  if (!have_type || !have_config) return Error::msg("perf_event needs type= and config=");
  if ((out.frequency != 0) == (out.period != 0)) return Error::msg("perf_event needs one of frequency= and period=");
  uint64_t c = 0;
  const bool ok = out.type == PERF_TYPE_SOFTWARE ? lookup(kSoftware, config_text, c)
                  : out.type == PERF_TYPE_HARDWARE ? lookup(kHardware, config_text, c)
                                                   : number(config_text, c);
  if (!ok) return Error::msg("perf_event config \"" + std::string(config_text) + "\": not a number or a known event name");
  out.config = c;
  return out;
}

Result<UprobeTarget> parseUprobeTarget(const std::string& target, bool usdt) {
  UprobeTarget t;
  const char* form = usdt ? "BINARY:provider:name" : "BINARY:function";
  const size_t last = target.rfind(':');
  if (last == std::string::npos || last == 0 || last + 1 == target.size())
    return Error::msg("target \"" + target + "\" must be " + form);
  if (!usdt) {
    t.binary = target.substr(0, last);
    t.function = target.substr(last + 1);
    return t;
  }
  const size_t mid = target.rfind(':', last - 1);
  if (mid == std::string::npos || mid == 0 || mid + 1 == last) return Error::msg("target \"" + target + "\" must be " + form);
  t.binary = target.substr(0, mid);
  t.provider = target.substr(mid + 1, last - mid - 1);
  t.name = target.substr(last + 1);
  return t;
}

Status checkTarget(AttachType type, const std::string& target) {
  const std::string what = "attach type " + std::string(attachTypeName(type));
  switch (type) {
    case AttachType::kKprobe:
    case AttachType::kKretprobe:
    case AttachType::kRawTracepoint:
      if (target.empty()) return Error::msg(what + " needs a target (the kernel function or tracepoint)");
      return base::okStatus();
    case AttachType::kTracepoint: {
      const size_t colon = target.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == target.size())
        return Error::msg("tracepoint target \"" + target + "\" must be category:name");
      return base::okStatus();
    }
    case AttachType::kUprobe:
    case AttachType::kUretprobe:
    case AttachType::kUsdt:
      if (auto t = parseUprobeTarget(target, type == AttachType::kUsdt); !t) return std::move(t).error();
      return base::okStatus();
    case AttachType::kPerfEvent:
      if (auto p = parsePerfEvent(target); !p) return std::move(p).error();
      return base::okStatus();
    default: return base::okStatus();
  }
}

Result<std::string> resolveBinary(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::vector<std::string> dirs;
  if (const char* ld = std::getenv("LD_LIBRARY_PATH"))
    for (std::string_view d : split(ld, ':'))
      if (!d.empty()) dirs.emplace_back(d);
#if defined(__x86_64__)
  const std::string triplet = "x86_64-linux-gnu";
#elif defined(__aarch64__)
  const std::string triplet = "aarch64-linux-gnu";
#else
  const std::string triplet;
#endif
  if (!triplet.empty())
    for (const char* root : {"/lib/", "/usr/lib/", "/usr/local/lib/"}) dirs.push_back(root + triplet);
  for (const char* d : {"/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"}) dirs.emplace_back(d);
  std::string looked;
  for (const std::string& d : dirs) {
    const std::string p = d + "/" + name;
    if (::access(p.c_str(), F_OK) == 0) return p;
    looked += (looked.empty() ? "" : ":") + d;
  }
  return Error(ENOENT, "no " + name + " in " + looked + " (give the binary's path)");
}

Status ensureTracefs() {
  for (const char* d : {"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"})
    if (isDir(d)) return base::okStatus();
  if (::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0) {
    BPFEX_LOG_INFO("mounted tracefs at /sys/kernel/tracing (classic tracepoints need it)");
    return base::okStatus();
  }
  return Error::fromErrno(errno,
                          "tracefs is not mounted and could not be mounted at /sys/kernel/tracing (mount -t tracefs "
                          "nodev /sys/kernel/tracing; or use tp_btf or raw_tracepoint, which need no tracefs)");
}

Result<std::vector<int>> onlineCpus() {
  std::ifstream in("/sys/devices/system/cpu/online");
  std::string text;
  if (!std::getline(in, text)) return Error::fromErrno(errno ? errno : EIO, "read /sys/devices/system/cpu/online");
  std::vector<int> cpus;
  for (std::string_view range : split(text, ',')) {
    const size_t dash = range.find('-');
    uint64_t lo = 0, hi = 0;
    if (!number(range.substr(0, dash), lo) ||
        !number(dash == std::string_view::npos ? range : range.substr(dash + 1), hi) || hi < lo || hi > 65535)
      return Error::msg("/sys/devices/system/cpu/online: cannot read \"" + text + "\"");
    for (uint64_t c = lo; c <= hi; ++c) cpus.push_back(static_cast<int>(c));
  }
  return cpus;
}

Result<std::vector<bpf_link*>> attachPerfEvent(bpf_program* prog, const PerfEventSpec& spec) {
  auto cpus = onlineCpus();
  if (!cpus) return std::move(cpus).error();
  std::vector<bpf_link*> links;
  auto undo = [&] {
    for (bpf_link* l : links) bpf_link__destroy(l);
  };
  for (int cpu : cpus.value()) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = spec.type;
    attr.config = spec.config;
    if (spec.frequency != 0) {
      attr.freq = 1;
      attr.sample_freq = spec.frequency;
    } else {
      attr.sample_period = spec.period;
    }
    const int fd = static_cast<int>(::syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      const int e = errno;
      undo();
      return Error::fromErrno(e, "open perf event on cpu " + std::to_string(cpu));
    }
    bpf_link* link = bpf_program__attach_perf_event(prog, fd);  // the link owns fd from here
    if (link == nullptr) {
      const int e = errno;
      ::close(fd);
      undo();
      return Error::fromErrno(e, "attach to perf event on cpu " + std::to_string(cpu));
    }
    links.push_back(link);
  }
  return links;
}

Result<std::vector<bpf_link*>> attachTracing(bpf_program* prog, AttachType type, const std::string& target_in) {
  std::string target = target_in;
  const std::string section = bpf_program__section_name(prog);
  if (type == AttachType::kAuto && section.starts_with("perf_event/")) {  // ebpf_exporter's form
    type = AttachType::kPerfEvent;
    target = section.substr(std::string_view("perf_event/").size());
  }
  if (type == AttachType::kTracepoint ||
      (type == AttachType::kAuto && (section.starts_with("tp/") || section.starts_with("tracepoint/"))))
    if (auto st = ensureTracefs(); !st) return std::move(st).error();
  if (auto st = checkTarget(type, target); !st) return std::move(st).error();
  if (type == AttachType::kPerfEvent) return attachPerfEvent(prog, parsePerfEvent(target).value());
  bpf_link* link = nullptr;
  switch (type) {
    case AttachType::kKprobe:
    case AttachType::kKretprobe:
      link = bpf_program__attach_kprobe(prog, type == AttachType::kKretprobe, target.c_str());
      break;
    case AttachType::kFentry:
    case AttachType::kFexit:
    case AttachType::kTpBtf: link = bpf_program__attach_trace(prog); break;  // the target was set before load
    case AttachType::kTracepoint: {
      const size_t colon = target.find(':');
      link = bpf_program__attach_tracepoint(prog, target.substr(0, colon).c_str(), target.substr(colon + 1).c_str());
      break;
    }
    case AttachType::kRawTracepoint: link = bpf_program__attach_raw_tracepoint(prog, target.c_str()); break;
    case AttachType::kUprobe:
    case AttachType::kUretprobe:
    case AttachType::kUsdt: {
      auto t = parseUprobeTarget(target, type == AttachType::kUsdt);
      auto binary = resolveBinary(t->binary);
      if (!binary) return std::move(binary).error();
      if (type == AttachType::kUsdt) {
        link = bpf_program__attach_usdt(prog, -1, binary->c_str(), t->provider.c_str(), t->name.c_str(), nullptr);
        break;
      }
      LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = type == AttachType::kUretprobe, .func_name = t->function.c_str());
      link = bpf_program__attach_uprobe_opts(prog, -1, binary->c_str(), 0, &uo);
      break;
    }
    default: link = bpf_program__attach(prog); break;
  }
  if (link == nullptr) {
    const int e = errno;
    return Error(e, std::string(std::strerror(e)) + tracingHint(type, section, e));
  }
  return std::vector<bpf_link*>{link};
}

void registerPerfEventSection() {
  static std::once_flag once;
  std::call_once(once, [] {
    LIBBPF_OPTS(libbpf_prog_handler_opts, opts);
    if (int rc = libbpf_register_prog_handler("perf_event/", BPF_PROG_TYPE_PERF_EVENT, BPF_PERF_EVENT, &opts); rc < 0)
      BPFEX_LOG_WARN("libbpf: cannot register the perf_event/ section form: {}", std::strerror(-rc));
  });
}

}  // namespace bpfex::bpf
