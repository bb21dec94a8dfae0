// The rule instrumenter's lexer: any text an operator (or attacker) calls a
// rule. Its output must still hold the text's Lua tokens in order, so the
// length can only grow.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lua/instrument.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view src(reinterpret_cast<const char*>(data), size);
  auto out = bpfex::lua::instrumentSource(src, "fuzz.lua");
  if (out && out->size() < src.size()) std::abort();
  return 0;
}
