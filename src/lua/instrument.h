// Rule source instrumentation for the time budget.
//
// LuaJIT's count hook does not fire inside compiled traces, so a rule's
// `while true do end` would never be interrupted by a hook alone. Before
// compiling, bpfex inserts a call to a budget check at the start of every loop
// body (after `do` and `repeat`), before every `goto`, and at the entry of
// every function. The check reads a flag the watchdog sets through an FFI
// pointer, a load and a compare that LuaJIT compiles into the trace, so it
// costs ~1 ns where it does not fire.
//
// The check's name is reserved: source that uses it is rejected, so a rule
// cannot shadow it. Line numbers are preserved (insertions never add lines),
// so errors still point at the operator's lines.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace bpfex::lua {

inline constexpr std::string_view kBudgetCheck = "__bpfex_chk";

// Returns the instrumented source, or an error naming the line of an
// unterminated string or comment, or of a use of the reserved name.
base::Result<std::string> instrumentSource(std::string_view source, std::string_view chunk_name);

}  // namespace bpfex::lua
