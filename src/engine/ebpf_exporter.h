// cloudflare/ebpf_exporter's configurations, read as they are: NAME.yaml
// beside NAME.bpf.o in one directory. The object is loaded as a bpfex object
// named NAME with every program attached as its SEC() says; each declared
// counter and histogram is read each tick from the object's map of the same
// name and served under the same name with the configured prefix
// ("ebpf_exporter_"), the same labels (each key decoded by its size, padding
// and decoders) and the same bucket bounds. docs/ebpf-exporter.md lists what
// is supported; anything else is refused at load, naming the file and line.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/engine.h"

namespace bpfex::metrics {
class Registry;
}
namespace re2 {
class RE2;
}

namespace bpfex::engine {

class BpfRuntime;

struct EbpfExporterDecoder {
  std::string name;  // uint, string, hex, static_map, regexp, syscall, errno, ksym, majorminor, ifname, inet_ip
  std::map<std::string, std::string> static_map;
  bool allow_unknown = false;
  std::vector<std::string> regexps;
  std::vector<std::shared_ptr<const re2::RE2>> compiled;  // regexps, compiled once when read
};

struct EbpfExporterLabel {
  std::string name;
  uint32_t size = 0, padding = 0;
  std::vector<EbpfExporterDecoder> decoders;
};

struct EbpfExporterMetric {
  std::string name, help;
  bool histogram = false;
  // Histograms: the last label is the bucket (its key field; not served).
  std::string bucket_type;  // exp2, exp2zero, linear, fixed
  double bucket_multiplier = 1;
  int64_t bucket_min = 0, bucket_max = 0;
  std::vector<double> bucket_keys;  // fixed
  std::vector<EbpfExporterLabel> labels;
  std::string where;  // file:line
};

struct EbpfExporterConfig {
  std::string name;       // NAME: the object and its metrics' config
  std::string dir;        // where NAME.yaml and NAME.bpf.o are
  std::vector<EbpfExporterMetric> metrics;
  // kaddrs: kernel symbols whose addresses (from /proc/kallsyms) the object
  // gets as its `const volatile` globals kaddr_<symbol>, resolved at load.
  std::vector<std::string> kaddrs;
  std::string kaddrs_where;  // file:line
};

// A kernel symbol's address from /proc/kallsyms; ENOENT when it is not there
// (data symbols need CONFIG_KALLSYMS_ALL), EPERM when kallsyms shows zeros
// (no CAP_SYSLOG).
base::Result<uint64_t> kernelSymbolAddress(const std::string& symbol);

// Reads DIR/NAME.yaml. Errors name the file, line and field; keys and
// decoders ebpf_exporter has and bpfex does not are refused the same way.
base::Result<EbpfExporterConfig> loadEbpfExporterConfig(const std::string& dir, const std::string& name);

// Registers every configured family (prefix + name) and returns the collector
// that fills them each tick from the runtime's maps "<NAME>/<metric name>".
base::Result<Collector> makeEbpfExporterCollector(metrics::Registry& registry, BpfRuntime& runtime,
                                                  const Engine& engine, std::vector<EbpfExporterConfig> configs,
                                                  const std::string& prefix);

// One label's bytes through its decoders (exposed for tests): false when a
// decoder drops the label set (regexp without a match).
bool decodeEbpfExporterLabel(const EbpfExporterLabel& label, const uint8_t* bytes, std::string& out);

}  // namespace bpfex::engine
