#include "lua/bpf_values.h"

#include <lua.hpp>

#include <charconv>
#include <string>

namespace bpfex::lua {

void pushExact(lua_State* L, int64_t s, uint64_t u, bool is_signed) {
  constexpr auto kLimit = static_cast<int64_t>(bpf::kExactDoubleLimit);
  char buf[24];
  if (is_signed) {
    if (s > -kLimit && s < kLimit) return lua_pushnumber(L, static_cast<double>(s));
    lua_pushlstring(L, buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, s).ptr - buf));
  } else {
    if (u < bpf::kExactDoubleLimit) return lua_pushnumber(L, static_cast<double>(u));
    lua_pushlstring(L, buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, u).ptr - buf));
  }
}

void pushField(lua_State* L, const bpf::Field& f, const uint8_t* base, uint32_t j) {
  if (f.kind == bpf::FieldKind::kFloat) return lua_pushnumber(L, bpf::readNumber(f, base, j));
  if (bpf::readsSigned(f)) return pushExact(L, bpf::readSigned(f, base, j), 0, true);
  pushExact(L, 0, bpf::readUnsigned(f, base, j), false);
}

void pushDecoded(lua_State* L, const bpf::Field& f, const uint8_t* base) {
  if (f.count > 1 && f.isNumeric()) {
    lua_createtable(L, static_cast<int>(f.count), 0);
    for (uint32_t j = 0; j < f.count; ++j) {
      if (f.kind == bpf::FieldKind::kBool) {
        lua_pushboolean(L, bpf::readUnsigned(f, base, j) != 0);
      } else if (f.kind == bpf::FieldKind::kEnum) {
        const std::string s = bpf::formatField(f, base, j);
        lua_pushlstring(L, s.data(), s.size());
      } else {
        pushField(L, f, base, j);
      }
      lua_rawseti(L, -2, static_cast<int>(j + 1));
    }
  } else if (f.kind == bpf::FieldKind::kBool) {
    lua_pushboolean(L, bpf::readUnsigned(f, base) != 0);
  } else if (bpf::isIntegerKind(f.kind) || f.kind == bpf::FieldKind::kFloat) {
    pushField(L, f, base, 0);
  } else {
    const std::string s = bpf::formatField(f, base);
    lua_pushlstring(L, s.data(), s.size());
  }
}

}  // namespace bpfex::lua
