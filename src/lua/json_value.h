// JSON documents as Lua tables and back (internal to src/lua): json.decode,
// state.read and state.write share them.
#pragma once

#include <nlohmann/json.hpp>

struct lua_State;

namespace bpfex::lua {

// Pushes j as Lua values: objects and arrays as tables, numbers as numbers,
// null as nil. Nesting deeper than 100 is a Lua error.
void pushJson(lua_State* L, const nlohmann::json& j, int depth = 0);
// The value at idx as JSON: whole numbers as integers, a table with an
// array part as an array (no holes, no mixed keys), otherwise an object
// with string keys. Nesting deeper than 32 is a Lua error; `fn` names the
// caller in messages.
nlohmann::json toJson(lua_State* L, int idx, const char* fn, int depth = 0);

}  // namespace bpfex::lua
