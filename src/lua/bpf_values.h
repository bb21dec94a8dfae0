// BPF map and event fields as rules see them (internal to src/lua): integers
// exact (a number below 2^53, beyond it the exact digits as a string), bools
// as booleans, enums by name, strings as text and bytes as hex.
#pragma once

#include <cstdint>

#include "bpf/layout.h"

struct lua_State;

namespace bpfex::lua {

// An integer: a number while a float64 holds it exactly (|v| < 2^53), beyond
// that its exact decimal digits (Lua's arithmetic still coerces them; labels
// keep every digit).
void pushExact(lua_State* L, int64_t s, uint64_t u, bool is_signed);
// Element j of a numeric field: integers exact, floats as numbers.
void pushField(lua_State* L, const bpf::Field& f, const uint8_t* base, uint32_t j);
// The whole field as a view shows it (arrays as tables).
void pushDecoded(lua_State* L, const bpf::Field& f, const uint8_t* base);

}  // namespace bpfex::lua
