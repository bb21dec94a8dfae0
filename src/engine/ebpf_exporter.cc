#include "engine/ebpf_exporter.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <re2/re2.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "base/file.h"
#include "base/log.h"
#include "engine/bpf_runtime.h"
#include "syscall_names.h"  // generated: tools/gen_syscalls.py
#include "metrics/registry.h"

namespace bpfex::engine {

using base::Error;
using base::Result;
using base::Status;

namespace {

// ---- the configuration ------------------------------------------------------

double bucketLe(const EbpfExporterMetric& m, double key);

struct Reader {
  std::string file;

  std::string at(const YAML::Node& n) const {
    return file + ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1);
  }
  Error error(const YAML::Node& n, const std::string& field, const std::string& why) const {
    return Error::msg(at(n) + ": " + field + ": " + why);
  }
  // ebpf_exporter's keys that bpfex does not (yet) do, refused by name.
  Error unsupported(const YAML::Node& n, const std::string& field) const {
    return error(n, field, "not supported by bpfex (docs/ebpf-exporter.md lists what is)");
  }

  Status decoder(const YAML::Node& d, const std::string& field, EbpfExporterDecoder& out) const {
    if (!d.IsMap()) return error(d, field, "expected a mapping (name: ...)");
    for (const auto& kv : d) {
      const std::string k = kv.first.as<std::string>();
      if (k == "name") out.name = kv.second.as<std::string>();
      else if (k == "allow_unknown") out.allow_unknown = kv.second.as<bool>();
      else if (k == "static_map") {
        if (!kv.second.IsMap()) return error(kv.second, field + ".static_map", "expected a mapping");
        for (const auto& e : kv.second) out.static_map[e.first.as<std::string>()] = e.second.as<std::string>();
      } else if (k == "regexps") {
        if (!kv.second.IsSequence()) return error(kv.second, field + ".regexps", "expected a list");
        for (const auto& r : kv.second) {
          auto re = std::make_shared<const RE2>(r.as<std::string>(), RE2::Quiet);
          if (!re->ok()) return error(r, field + ".regexps", "\"" + r.as<std::string>() + "\": " + re->error());
          out.regexps.push_back(r.as<std::string>());
          out.compiled.push_back(std::move(re));
        }
      } else {
        return error(kv.first, field + "." + k, "unknown key (name, static_map, allow_unknown, regexps)");
      }
    }
    static const char* const kKnown[] = {"uint", "string", "hex", "static_map", "regexp", "syscall",
                                         "errno", "ksym", "majorminor", "ifname", "inet_ip", "cgroup"};
    static const char* const kTheirs[] = {"dname", "kstack", "pci_vendor", "pci_device", "pci_class",
                                          "pci_subclass"};
    if (std::find(std::begin(kKnown), std::end(kKnown), out.name) != std::end(kKnown)) return base::okStatus();
    if (std::find(std::begin(kTheirs), std::end(kTheirs), out.name) != std::end(kTheirs))
      return unsupported(d, field + ".name: decoder " + out.name);
    return error(d, field + ".name", "\"" + out.name + "\" is not a decoder");
  }

  Status label(const YAML::Node& l, const std::string& field, EbpfExporterLabel& out) const {
    if (!l.IsMap()) return error(l, field, "expected a mapping (name, size, decoders)");
    for (const auto& kv : l) {
      const std::string k = kv.first.as<std::string>();
      if (k == "name") out.name = kv.second.as<std::string>();
      else if (k == "size") out.size = kv.second.as<uint32_t>();
      else if (k == "padding") out.padding = kv.second.as<uint32_t>();
      else if (k == "decoders") {
        if (!kv.second.IsSequence()) return error(kv.second, field + ".decoders", "expected a list");
        for (size_t i = 0; i < kv.second.size(); ++i) {
          EbpfExporterDecoder d;
          if (auto st = decoder(kv.second[i], field + ".decoders[" + std::to_string(i) + "]", d); !st) return st;
          out.decoders.push_back(std::move(d));
        }
      } else {
        return error(kv.first, field + "." + k, "unknown key (name, size, padding, decoders)");
      }
    }
    if (out.name.empty()) return error(l, field + ".name", "required");
    if (out.size == 0 || out.size > 4096) return error(l, field + ".size", "required, 1..4096 bytes");
    if (out.decoders.empty()) return error(l, field + ".decoders", "required (at least one)");
    return base::okStatus();
  }

  Status metric(const YAML::Node& m, const std::string& field, bool histogram, EbpfExporterMetric& out) const {
    if (!m.IsMap()) return error(m, field, "expected a mapping");
    out.histogram = histogram;
    out.where = at(m);
    for (const auto& kv : m) {
      const std::string k = kv.first.as<std::string>();
      const std::string f = field + "." + k;
      if (k == "name") out.name = kv.second.as<std::string>();
      else if (k == "help") out.help = kv.second.as<std::string>();
      else if (k == "labels") {
        if (!kv.second.IsSequence()) return error(kv.second, f, "expected a list");
        for (size_t i = 0; i < kv.second.size(); ++i) {
          EbpfExporterLabel l;
          if (auto st = label(kv.second[i], f + "[" + std::to_string(i) + "]", l); !st) return st;
          out.labels.push_back(std::move(l));
        }
      } else if (histogram && k == "bucket_type") out.bucket_type = kv.second.as<std::string>();
      else if (histogram && k == "bucket_multiplier") out.bucket_multiplier = kv.second.as<double>();
      else if (histogram && k == "bucket_min") out.bucket_min = kv.second.as<int64_t>();
      else if (histogram && k == "bucket_max") out.bucket_max = kv.second.as<int64_t>();
      else if (histogram && k == "bucket_keys") out.bucket_keys = kv.second.as<std::vector<double>>();
      else if (!histogram && (k == "perf_event_array" || k == "flush_interval")) return unsupported(kv.first, f);
      else return error(kv.first, f, histogram ? "unknown key (name, help, labels, bucket_type, bucket_min, "
                                                 "bucket_max, bucket_keys, bucket_multiplier)"
                                               : "unknown key (name, help, labels)");
    }
    if (out.name.empty()) return error(m, field + ".name", "required");
    if (out.help.empty()) out.help = out.name;
    if (!histogram) return base::okStatus();
    if (out.labels.empty()) return error(m, field + ".labels", "a histogram's last label is its bucket: required");
    if (out.bucket_multiplier == 0) out.bucket_multiplier = 1;
    const std::string& t = out.bucket_type;
    if (t == "fixed") {
      if (out.bucket_keys.empty()) return error(m, field + ".bucket_keys", "required for fixed buckets");
      for (size_t i = 1; i < out.bucket_keys.size(); ++i)
        if (!(out.bucket_keys[i] > out.bucket_keys[i - 1]))
          return error(m, field + ".bucket_keys", "must be strictly ascending");
    } else if (t == "exp2" || t == "exp2zero" || t == "linear") {
      if (out.bucket_max <= out.bucket_min) return error(m, field + ".bucket_max", "must be over bucket_min");
      if (out.bucket_max - out.bucket_min > 4096) return error(m, field + ".bucket_max", "at most 4096 buckets");
    } else {
      return error(m, field + ".bucket_type", "\"" + t + "\": expected exp2, exp2zero, linear or fixed");
    }
    if (out.bucket_keys.size() > 4096) return error(m, field + ".bucket_keys", "at most 4096 buckets");
    // The bounds served: finite and strictly ascending, or refused here (not
    // when the daemon registers the family).
    double prev = -HUGE_VAL;
    const auto bound = [&](double key) -> Status {
      const double le = bucketLe(out, key);
      if (!std::isfinite(le) || !(le > prev))
        return error(m, field, "bucket " + std::to_string(static_cast<long long>(key)) + " makes le " +
                                   std::to_string(le) + ": bounds must be finite and ascending");
      prev = le;
      return base::okStatus();
    };
    if (t == "fixed") {
      for (double k : out.bucket_keys)
        if (auto st = bound(k); !st) return st;
    } else {
      for (int64_t k = out.bucket_min; k <= out.bucket_max; ++k)
        if (auto st = bound(static_cast<double>(k)); !st) return st;
    }
    return base::okStatus();
  }
};

// ---- the decoders -----------------------------------------------------------

uint64_t hostUint(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  std::memcpy(&v, p, std::min<size_t>(n, 8));  // little-endian hosts (x86_64, arm64)
  return v;
}

// /proc/kallsyms, sorted, loaded once (kernel addresses need CAP_SYSLOG or
// root to be shown; without, every address reads 0 and decodes unknown).
class Kallsyms {
 public:
  std::string symbol(uint64_t addr) {
    std::call_once(once_, [this] { load(); });
    auto it = std::upper_bound(syms_.begin(), syms_.end(), addr,
                               [](uint64_t a, const std::pair<uint64_t, std::string>& s) { return a < s.first; });
    if (addr == 0 || it == syms_.begin()) return "";
    return std::prev(it)->second;
  }

 private:
  void load() {
    std::ifstream in("/proc/kallsyms");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string addr, type, name, module;
      if (!(ls >> addr >> type >> name)) continue;
      if (ls >> module) name += "\t" + module;  // "commit_timeout\t[jbd2]", as ebpf_exporter shows a module's
      const uint64_t a = std::strtoull(addr.c_str(), nullptr, 16);
      if (a != 0) syms_.emplace_back(a, name);
    }
    std::sort(syms_.begin(), syms_.end());
  }
  std::once_flag once_;
  std::vector<std::pair<uint64_t, std::string>> syms_;
};

Kallsyms& kallsyms() {
  static Kallsyms k;
  return k;
}

// Names found are kept (as ebpf_exporter does); a device not found is looked
// for again next time (it may be new).
// cgroup ids (bpf_get_current_cgroup_id: the cgroup v2 directory's inode) to
// the directory's path under the cgroup2 mount, found by walking it; a miss
// walks again (a new cgroup), and an id still unknown is remembered as such.
class CgroupPaths {
 public:
  std::string path(uint64_t id) {
    if (root_.empty()) root_ = mountPoint();
    if (auto it = paths_.find(id); it != paths_.end()) return it->second;
    walk();
    auto it = paths_.find(id);
    if (it != paths_.end()) return it->second;
    if (paths_.size() < 65536) paths_[id] = "";
    return "";
  }

 private:
  static std::string mountPoint() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      const size_t dash = line.find(" - cgroup2 ");
      if (dash == std::string::npos) continue;
      std::istringstream ls(line);
      std::string id, parent, dev, root, mount;
      if (ls >> id >> parent >> dev >> root >> mount) return mount;
    }
    return "/sys/fs/cgroup";
  }
  void walk() {
    namespace fs = std::filesystem;
    std::error_code ec;
    struct stat st{};
    if (::stat(root_.c_str(), &st) == 0) paths_[st.st_ino] = root_;
    for (fs::recursive_directory_iterator it(root_, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
      if (::stat(it->path().c_str(), &st) == 0 && paths_.size() < 65536) paths_[st.st_ino] = it->path().string();
    }
  }
  std::string root_;
  std::map<uint64_t, std::string> paths_;
};

std::string partitionName(unsigned major, unsigned minor) {
  static std::map<std::pair<unsigned, unsigned>, std::string> found;
  if (auto it = found.find({major, minor}); it != found.end()) return it->second;
  std::ifstream in("/proc/partitions");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    unsigned ma = 0, mi = 0;
    uint64_t blocks = 0;
    std::string name;
    if (ls >> ma >> mi >> blocks >> name && ma == major && mi == minor) {
      if (found.size() < 4096) found[{major, minor}] = name;
      return name;
    }
  }
  return "";
}

std::string inetIp(const uint8_t* p, size_t n) {
  char buf[INET6_ADDRSTRLEN] = {};
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (n == 16 && std::memcmp(p, kMapped, 12) == 0) return inetIp(p + 12, 4);  // as Go prints it
  if (n == 4) inet_ntop(AF_INET, p, buf, sizeof buf);
  else if (n == 16) inet_ntop(AF_INET6, p, buf, sizeof buf);
  else {
    std::string out = "?";
    for (size_t i = 0; i < n; ++i) out += "0123456789abcdef"[p[i] >> 4], out += "0123456789abcdef"[p[i] & 15];
    return out;
  }
  return buf;
}

bool decimal(const std::string& s, uint64_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtoull(s.c_str(), &end, 10);
  return errno == 0 && end != nullptr && *end == '\0';
}

// One decoder: `in` holds the bytes (the label's raw bytes for the first).
bool decodeOne(const EbpfExporterDecoder& d, std::string& in) {
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  const std::string& n = d.name;
  if (n == "uint") {
    if (in.size() != 1 && in.size() != 2 && in.size() != 4 && in.size() != 8) return false;
    in = std::to_string(hostUint(p, in.size()));
  } else if (n == "string") {
    in.resize(std::strlen(in.c_str()));
  } else if (n == "hex") {
    std::string out;
    for (unsigned char c : in) out += "0123456789abcdef"[c >> 4], out += "0123456789abcdef"[c & 15];
    in = out;
  } else if (n == "static_map") {
    auto it = d.static_map.find(in);
    if (it != d.static_map.end()) in = it->second;
    else if (!d.allow_unknown) in = "unknown:" + in;
  } else if (n == "regexp") {
    for (const auto& re : d.compiled) {
      std::string sub;
      const bool groups = re->NumberOfCapturingGroups() > 0;
      if (groups ? RE2::PartialMatch(in, *re, &sub) : RE2::PartialMatch(in, *re)) {
        if (groups) in = sub;
        return true;
      }
    }
    return false;  // no pattern matched: the label set is dropped
  } else if (n == "syscall") {
    uint64_t v = 0;
    if (!decimal(in, v)) return false;
    auto it = std::find_if(std::begin(kSyscallNames), std::end(kSyscallNames),
                           [&](const auto& e) { return e.first == v; });
    in = it != std::end(kSyscallNames) ? it->second : "unknown_syscall:" + std::to_string(v);
  } else if (n == "errno") {
    uint64_t v = 0;
    if (!decimal(in, v)) return false;
    const char* name = v < 4096 ? strerrorname_np(static_cast<int>(v)) : nullptr;
    in = name != nullptr ? name : "unknown:" + std::to_string(v);
  } else if (n == "ksym") {
    if (in.size() < 8) return false;
    const uint64_t a = hostUint(p, 8);
    std::string s = kallsyms().symbol(a);
    if (s.empty()) {
      char buf[40];
      std::snprintf(buf, sizeof buf, "unknown_addr:0x%llx", static_cast<unsigned long long>(a));
      s = buf;
    }
    in = s;
  } else if (n == "majorminor") {
    if (in.size() < 4) return false;
    const auto dev = static_cast<dev_t>(hostUint(p, 4));
    const std::string name = partitionName(major(dev), minor(dev));
    in = !name.empty() ? name : "unknown:" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
  } else if (n == "ifname") {
    if (in.size() < 4) return false;
    const auto idx = static_cast<unsigned>(hostUint(p, 4));
    static std::map<unsigned, std::string> names;  // found names kept, as ebpf_exporter does
    if (auto it = names.find(idx); it != names.end()) {
      in = it->second;
      return true;
    }
    char buf[IF_NAMESIZE] = {};
    if (if_indextoname(idx, buf) == nullptr) {
      in = "unknown:" + std::to_string(idx);
      return true;
    }
    if (names.size() < 4096) names[idx] = buf;
    in = buf;
  } else if (n == "cgroup") {
    uint64_t id = 0;
    if (!decimal(in, id)) return false;
    static CgroupPaths paths;
    const std::string dir = paths.path(id);
    in = !dir.empty() ? dir : "unknown_cgroup_id:" + std::to_string(id);
  } else if (n == "inet_ip") {
    in = inetIp(p, in.size());
  } else {
    return false;
  }
  return true;
}

// ---- the collector ------------------------------------------------------------

struct Served {
  const EbpfExporterConfig* config;
  const EbpfExporterMetric* metric;
  metrics::Family* family;
  std::vector<double> bounds;  // histograms: le of each bucket key, in order
  std::vector<double> keys;    // histograms: the bucket keys, in order
};

double bucketLe(const EbpfExporterMetric& m, double key) {
  if (m.bucket_type == "exp2") return std::exp2(key) * m.bucket_multiplier;
  if (m.bucket_type == "exp2zero") return key == 0 ? 0 : std::exp2(key - 1) * m.bucket_multiplier;
  return key * m.bucket_multiplier;  // linear, fixed
}

}  // namespace

Result<uint64_t> kernelSymbolAddress(const std::string& symbol) {
  std::ifstream in("/proc/kallsyms");
  if (!in) return Error::fromErrno(errno, "read /proc/kallsyms");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string addr, type, name;
    if (!(ls >> addr >> type >> name) || name != symbol) continue;
    const uint64_t a = std::strtoull(addr.c_str(), nullptr, 16);
    if (a == 0) return Error(EPERM, "kernel symbol " + symbol + ": /proc/kallsyms shows it at 0 (reading addresses needs CAP_SYSLOG)");
    return a;
  }
  return Error(ENOENT, "kernel symbol " + symbol + " is not in /proc/kallsyms (a data symbol needs CONFIG_KALLSYMS_ALL)");
}

bool decodeEbpfExporterLabel(const EbpfExporterLabel& label, const uint8_t* bytes, std::string& out) {
  out.assign(reinterpret_cast<const char*>(bytes), label.size);
  for (const EbpfExporterDecoder& d : label.decoders)
    if (!decodeOne(d, out)) return false;
  return true;
}

Result<EbpfExporterConfig> loadEbpfExporterConfig(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name + ".yaml";
  auto text = base::readFile(path, 4u << 20);  // a config, not a data file
  if (!text) return std::move(text).error().context("ebpf_exporter config " + name);
  Reader r{path};
  EbpfExporterConfig cfg{.name = name, .dir = dir, .metrics = {}};
  try {
    const YAML::Node root = YAML::Load(text.value());
    if (!root.IsMap()) return Error::msg(path + ": expected a mapping (metrics: ...)");
    for (const auto& kv : root) {
      const std::string k = kv.first.as<std::string>();
      if (k == "metrics") {
        if (!kv.second.IsMap()) return r.error(kv.second, "metrics", "expected a mapping (counters, histograms)");
        for (const auto& kind : kv.second) {
          const std::string which = kind.first.as<std::string>();
          if (which != "counters" && which != "histograms")
            return r.error(kind.first, "metrics." + which, "unknown key (counters, histograms)");
          if (!kind.second.IsSequence()) return r.error(kind.second, "metrics." + which, "expected a list");
          for (size_t i = 0; i < kind.second.size(); ++i) {
            EbpfExporterMetric m;
            const std::string field = "metrics." + which + "[" + std::to_string(i) + "]";
            if (auto st = r.metric(kind.second[i], field, which == "histograms", m); !st) return std::move(st).error();
            for (const EbpfExporterMetric& other : cfg.metrics)
              if (other.name == m.name)
                return r.error(kind.second[i], field + ".name", "\"" + m.name + "\" is also " + other.where + "'s");
            cfg.metrics.push_back(std::move(m));
          }
        }
      } else if (k == "kaddrs") {
        if (!kv.second.IsSequence()) return r.error(kv.second, k, "expected a list of kernel symbols");
        cfg.kaddrs = kv.second.as<std::vector<std::string>>();
        cfg.kaddrs_where = r.at(kv.second);
      } else if (k == "cgroup_id_map" || k == "tracing") {
        return r.unsupported(kv.first, k);
      } else {
        return r.error(kv.first, k, "unknown key (metrics, kaddrs, cgroup_id_map, tracing)");
      }
    }
  } catch (const YAML::Exception& e) {
    return Error::msg(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return cfg;
}

Result<Collector> makeEbpfExporterCollector(metrics::Registry& registry, BpfRuntime& runtime, const Engine& engine,
                                            std::vector<EbpfExporterConfig> configs, const std::string& prefix) {
  auto owned = std::make_shared<std::vector<EbpfExporterConfig>>(std::move(configs));
  auto served = std::make_shared<std::vector<Served>>();
  for (const EbpfExporterConfig& c : *owned)
    for (const EbpfExporterMetric& m : c.metrics) {
      Served s{.config = &c, .metric = &m, .family = nullptr, .bounds = {}, .keys = {}};
      metrics::FamilyOptions o{.name = prefix + m.name, .help = m.help};
      o.expire_unwritten = true;
      const size_t served_labels = m.histogram ? m.labels.size() - 1 : m.labels.size();
      for (size_t i = 0; i < served_labels; ++i) o.label_names.push_back(m.labels[i].name);
      if (m.histogram) {
        o.type = metrics::MetricType::kHistogram;
        if (m.bucket_type == "fixed") s.keys = m.bucket_keys;
        else
          for (int64_t k = m.bucket_min; k <= m.bucket_max; ++k) s.keys.push_back(static_cast<double>(k));
        for (double k : s.keys) s.bounds.push_back(bucketLe(m, k));
        o.buckets = s.bounds;
      } else {
        o.type = metrics::MetricType::kCounter;
        o.counter_total = o.name.size() > 6 && o.name.ends_with("_total");
      }
      auto f = registry.family(std::move(o));
      if (!f) return std::move(f).error().context(m.where + ": " + prefix + m.name);
      s.family = f.value();
      served->push_back(std::move(s));
    }
  return Collector([owned, served, &runtime, &engine](metrics::Registry&) -> Status {
    for (Served& s : *served) {
      const EbpfExporterMetric& m = *s.metric;
      BpfRuntime::MapEntry* e = runtime.findMap(s.config->name + "/" + m.name);
      if (e == nullptr) continue;  // the object did not load: counted and said by the runtime
      auto rd = runtime.read(*e, engine.ticks());
      if (!rd) continue;
      const bpf::MapReader& r = *rd.value();
      std::vector<std::string> values(m.labels.size());
      // Decoded label sets -> value: several keys may decode alike (a
      // static_map, a regexp's submatch), and then they add up, as in
      // ebpf_exporter. Histograms: the other labels -> bucket key -> count.
      std::map<std::vector<std::string>, uint64_t> counters;
      std::map<std::vector<std::string>, std::map<double, double>> hists;
      const bool per_cpu = r.map().perCpu();
      // A per-CPU map whose last label is "cpu": each CPU's value is its own
      // series, its index a 2-byte host-order integer after the key's bytes.
      const bool cpu_label = per_cpu && !m.labels.empty() && m.labels.back().name == "cpu";
      const size_t vsize = std::min<size_t>(r.map().info().value_size, 8);
      std::vector<uint8_t> key(r.keySize() + 2);
      auto decodeKey = [&](size_t len) {
        const uint8_t* k = key.data();
        // No labels but "cpu": a key of uint32 0 is skipped over (ebpf_exporter's one-entry maps).
        if (cpu_label && m.labels.size() == 1 && len >= 6 && std::memcmp(k, "\0\0\0\0", 4) == 0) k += 4, len -= 4;
        size_t off = 0;
        for (size_t l = 0; l < m.labels.size(); ++l) {
          const EbpfExporterLabel& lab = m.labels[l];
          if (off + lab.size > len || !decodeEbpfExporterLabel(lab, k + off, values[l])) return false;
          off += lab.size + lab.padding;
        }
        return true;
      };
      auto record = [&](uint64_t value) {
        if (!m.histogram) {
          counters[values] += value;
          return;
        }
        uint64_t bucket = 0;
        if (!decimal(values.back(), bucket)) return;
        hists[std::vector<std::string>(values.begin(), values.end() - 1)][static_cast<double>(bucket)] +=
            static_cast<double>(value);
      };
      for (size_t i = 0; i < r.count(); ++i) {
        std::memcpy(key.data(), r.key(i), r.keySize());
        if (cpu_label) {
          for (int c = 0; c < r.cpus(); ++c) {
            const auto cpu = static_cast<uint16_t>(c);
            std::memcpy(key.data() + r.keySize(), &cpu, 2);
            if (decodeKey(r.keySize() + 2)) record(hostUint(r.value(i, c), vsize));
          }
          continue;
        }
        if (!decodeKey(r.keySize())) continue;
        uint64_t total = 0;  // u64 values, per-CPU ones summed exactly before the float
        for (int c = 0; c < (per_cpu ? r.cpus() : 1); ++c) total += hostUint(r.value(i, c), vsize);
        record(total);
      }
      std::vector<std::string_view> views(m.labels.size());
      for (const auto& [labels, value] : counters) {
        for (size_t l = 0; l < labels.size(); ++l) views[l] = labels[l];
        (void)s.family->set(metrics::LabelValues(views), static_cast<double>(value));
      }
      for (const auto& [group, buckets] : hists) {
        std::vector<double> counts;
        counts.reserve(s.keys.size() + 1);
        for (double k : s.keys) {
          auto it = buckets.find(k);
          counts.push_back(it == buckets.end() ? 0 : it->second);
        }
        counts.push_back(0);  // +Inf: only the configured buckets count
        const double sum_key = (m.bucket_type == "fixed" ? s.keys.back() : static_cast<double>(m.bucket_max)) + 1;
        auto sum = buckets.find(sum_key);
        std::vector<std::string_view> gv(group.begin(), group.end());
        (void)s.family->setHistogram(metrics::LabelValues(gv), counts,
                                     sum == buckets.end() ? 0 : sum->second * m.bucket_multiplier);
      }
    }
    return base::okStatus();
  });
}

}  // namespace bpfex::engine
