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

// Replaces `path` with `contents` atomically and durably: written to
// path.tmp and fsync'ed, renamed over it, and the directory fsync'ed, so a
// reader (or the next start after a crash or power cut) sees the old or the
// new file, never half or empty. A failure leaves the old file and no .tmp.
Status writeFileAtomic(const std::string& path, std::string_view contents);

}  // namespace bpfex::base
