// JSON text that is always valid UTF-8. nlohmann's dump() throws on a string
// that is not valid UTF-8 (type_error 316), and every string bpfex writes as
// JSON can hold bytes a rule or a map chose: an error message, an alert's
// labels and annotations, a label value decoded from a map. One throw used to
// freeze a status endpoint for every rule; here an invalid byte becomes
// U+FFFD, as the exposition writers do (metrics/text_format.h).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace bpfex::base {

// indent < 0: compact; otherwise pretty-printed with that many spaces.
inline std::string jsonText(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace bpfex::base
