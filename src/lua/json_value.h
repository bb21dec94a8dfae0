// JSON documents as Lua tables and back (internal to src/lua): json.decode,
// state.read and state.write share them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>

struct lua_State;

namespace bpfex::lua {

// Pushes j as Lua values: objects and arrays as tables, numbers as numbers,
// null as nil. Nesting deeper than 100 is a Lua error.
void pushJson(lua_State* L, const nlohmann::json& j, int depth = 0);
// What one toJson may cost: the bytes its text may take (strings and keys
// at their length, every other value at 8), checked before each is copied,
// so a table that shares one big string or one subtree many times fails at
// the limit instead of after being expanded in full; and the rule's budget
// flag, checked as it goes.
struct JsonLimits {
  size_t max_bytes = 1u << 20;
  const volatile uint32_t* abort = nullptr;
  size_t used = 0;
};
// The value at idx as JSON: whole numbers as integers, a table with an
// array part as an array (no holes, no mixed keys), otherwise an object
// with string keys. Nesting deeper than 32, or more than limits.max_bytes,
// is a Lua error; `fn` names the caller in messages.
nlohmann::json toJson(lua_State* L, int idx, const char* fn, JsonLimits& limits, int depth = 0);

}  // namespace bpfex::lua
