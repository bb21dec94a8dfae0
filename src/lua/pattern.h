// Lua 5.1 patterns (string.find, match, gmatch, gsub) under the rule's
// budget.
//
// LuaJIT's own matcher is C code that no hook interrupts, and a pattern such
// as ("a"):rep(40):find(("a*"):rep(20) .. "b") runs for hours: a rule could
// hold the engine thread inside one call. This matcher has Lua 5.1's
// semantics (checked against LuaJIT's functions with random patterns in
// tests/unit/pattern_test.cc) and polls the abort flag every few thousand
// steps, and keeps gsub's result within the rule's memory cap.
//
// The functions are lua_CFunctions' bodies: they read their arguments from
// the stack as string.find etc. do and raise Lua errors the same way; the
// budget error is a std::runtime_error (bindings turn it into a Lua error).
#pragma once

#include <cstddef>
#include <cstdint>

struct lua_State;

namespace bpfex::lua::pattern {

struct Limits {
  const volatile uint32_t* abort = nullptr;  // non-zero: stop ("time budget exceeded")
  size_t max_result_bytes = SIZE_MAX;        // gsub's result
};

int find(lua_State* L, const Limits& lim);
int match(lua_State* L, const Limits& lim);
// Pushes the iterator; it keeps the subject, the pattern and the position as
// upvalues, and reads `lim` from a light userdata upvalue (it must outlive it).
int gmatch(lua_State* L, const Limits* lim);
int gsub(lua_State* L, const Limits& lim);

}  // namespace bpfex::lua::pattern
