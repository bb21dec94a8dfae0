// Where a YAML node is, and an error naming it: "file:line:col: field: why",
// the one shape every configuration error takes.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

#include "base/result.h"

namespace bpfex::daemon {

inline std::string where(std::string_view file, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return std::string(file) + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

inline base::Error fieldError(std::string_view file, const YAML::Node& n, std::string_view field, std::string_view why) {
  return base::Error::msg(where(file, n) + ": " + std::string(field) + ": " + std::string(why));
}

}  // namespace bpfex::daemon
