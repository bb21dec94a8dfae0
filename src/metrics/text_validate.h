// Validation of text 0.0.4 exposition written by someone else (a shell job's
// file or stdin for `bpfex push`): the same rules the Pushgateway and
// Prometheus apply, checked before anything is sent, each error with its line.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "base/result.h"

namespace bpfex::metrics {

struct TextValidation {
  bool forbid_timestamps = false;            // the Pushgateway rejects them
  std::set<std::string> forbidden_labels;    // e.g. job and the grouping labels
};

struct TextStats {
  size_t families = 0;
  size_t samples = 0;
};

// `name` prefixes errors: "<name>:<line>: <what>".
base::Result<TextStats> validateText004(std::string_view text, std::string_view name,
                                        const TextValidation& opts = {});

}  // namespace bpfex::metrics
