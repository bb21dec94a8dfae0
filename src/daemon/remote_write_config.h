// remote_write: the endpoints bpfex ships every tick to (docs/remote-write.md),
// in Prometheus' own shape and names where they apply. Parsed strictly: an
// unknown key, a bad value or a missing credential file is an error naming
// its file, line and field, found by `bpfex check` as by the daemon.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "export/remote_write.h"

namespace bpfex::daemon {

// Parses the remote_write list into `out` (replacing it). `beside` makes a
// relative path relative to the configuration file. `env` looks up
// BPFEX_REMOTE_WRITE_PASSWORD (the basic auth password when no
// password_file is given).
base::Status parseRemoteWrite(const YAML::Node& list, std::string_view file,
                              const std::function<std::string(const std::string&)>& beside,
                              const std::function<const char*(const char*)>& env,
                              std::vector<exporter::RemoteWriteOptions>& out);

// external_labels: label: value, where a value may name environment
// variables as ${NAME} (the node's name from the DaemonSet's downward API).
base::Status parseExternalLabels(const YAML::Node& map, std::string_view file,
                                 const std::function<const char*(const char*)>& env,
                                 std::map<std::string, std::string>& out);

}  // namespace bpfex::daemon
