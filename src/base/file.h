// Small whole-file reads and atomic replacements (state files, job inputs).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"

namespace bpfex::base {

// The file's contents; a file larger than max_bytes is an error (naming the
// path), never a silent truncation.
Result<std::string> readFile(const std::string& path, size_t max_bytes);

// Replaces `path` with `contents` atomically: written to path.tmp, then
// renamed over it, so a reader sees the old or the new file, never half.
Status writeFileAtomic(const std::string& path, std::string_view contents);

}  // namespace bpfex::base
