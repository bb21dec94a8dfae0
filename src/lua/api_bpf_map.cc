// bpf.map(name) -> handle, and what the prelude builds its map methods on
// (m:entries(), m:lookup{...}, m:info(), the FFI views): the map's entries
// this tick (api.map_view), its layouts (api.map_layout), slow-path field
// reads, keyed lookups. bpf.export(map, metric, value_field [, labels_from])
// declares a family filled from a map with no Lua per entry (map_export.h).
//
// A map is read at most once per tick per rule (and once per tick in all,
// by the engine's data source); lookups index its keys on first use.
#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
#include <unordered_map>

#include "lua/binding.h"
#include "lua/bpf_values.h"
#include "metrics/text_format.h"

namespace bpfex::lua {
namespace {

using metrics::FamilyOptions;
using metrics::MetricType;

// The domain's state: each map's view this tick, and its key index.
struct MapCache {
  uint64_t tick = UINT64_MAX;
  MapView view;
  uint64_t index_tick = UINT64_MAX;  // key bytes -> entry, built on the first lookup of a tick
  std::unordered_map<std::string, uint32_t> index;
};
using MapCaches = std::unordered_map<std::string, MapCache>;

MapCache& cached(lua_State* L, const std::string& name) {
  RuleCore* r = core(L);
  if (!r->in_tick || r->ctx == nullptr || r->ctx->data == nullptr)
    luaL_error(L, "bpf map %s: maps are read in on_tick functions", name.c_str());
  MapCache& c = domainState<MapCaches>(L)[name];
  if (c.tick != r->ctx->tick) {
    auto v = r->ctx->data->mapView(name);
    if (!v) luaL_error(L, "%s", v.error().message().c_str());
    c.view = v.value();
    c.tick = r->ctx->tick;
  }
  return c;
}
const MapView& view(lua_State* L, const std::string& name) { return cached(L, name).view; }

// bpf.map(name) -> handle; map_name(handle) -> name. The prelude's map
// methods take the name from the handle once, so a forged `self` (a table
// whose name changes between reads) cannot pair one map's buffer with
// another's layout.
int mapNew(lua_State* L) {
  size_t len = 0;
  const char* name = luaL_checklstring(L, 1, &len);
  if (len == 0 || len > 4096) return luaL_error(L, "bpf.map(name): a name of 1 to 4096 bytes");
  auto* h = static_cast<MapHandle*>(lua_newuserdata(L, sizeof(MapHandle) + len));
  h->len = static_cast<uint32_t>(len);
  std::memcpy(h->name, name, len);
  h->name[len] = '\0';
  luaL_getmetatable(L, kMapMeta);
  lua_setmetatable(L, -2);
  return 1;
}
int mapName(lua_State* L) {
  auto* h = static_cast<MapHandle*>(luaL_checkudata(L, 1, kMapMeta));
  lua_pushlstring(L, h->name, h->len);
  return 1;
}

// bpf.export(map, metric, value_field [, labels_from]), at the top level
// only. labels_from: {label = key_field}, for labels not named as their key
// field.
int mapExport(lua_State* L) {
  RuleCore* r = core(L);
  if (r->in_tick) return luaL_error(L, "bpf.export is declared at the top level of a rule, not in on_tick");
  MapExportDecl d;
  auto* mh = static_cast<MapHandle*>(luaL_checkudata(L, 1, kMapMeta));
  d.map.assign(mh->name, mh->len);
  auto* h = static_cast<MetricHandle*>(luaL_checkudata(L, 2, kMetricMeta));
  d.decl = h->decl;
  const FamilyOptions& o = r->decls[d.decl];
  if (o.type != MetricType::kCounter && o.type != MetricType::kGauge && o.type != MetricType::kUntyped)
    return luaL_error(L, "bpf.export(%s): metric %s is a %s; export writes counters and gauges", d.map.c_str(),
                      o.name.c_str(), std::string(metrics::metricTypeName(o.type)).c_str());
  d.value_field = luaL_checkstring(L, 3);
  d.key_fields = o.label_names;  // by default each label is the key field of its name
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 4) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "bpf.export(%s): labels_from maps label names to key field names", d.map.c_str());
      const std::string label = lua_tostring(L, -2);
      const auto it = std::find(o.label_names.begin(), o.label_names.end(), label);
      if (it == o.label_names.end())
        return luaL_error(L, "bpf.export(%s): metric %s has no label %s", d.map.c_str(), o.name.c_str(), label.c_str());
      d.key_fields[static_cast<size_t>(it - o.label_names.begin())] = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
  }
  for (const MapExport& e : r->exports)
    if (e.decl().decl == d.decl)
      return luaL_error(L, "bpf.export(%s): metric %s is exported twice", d.map.c_str(), o.name.c_str());
  d.where = r->where(L, 1);
  r->exports.emplace_back(std::move(d));
  return 0;
}

// api.map_view(name) -> keys, values, count, key_size, value_size: the FFI
// views' buffers (valid for this run: the prelude checks the generation).
int mapView(lua_State* L) {
  const MapView& v = view(L, luaL_checkstring(L, 1));
  lua_pushlightuserdata(L, const_cast<uint8_t*>(v.keys));
  lua_pushlightuserdata(L, const_cast<uint8_t*>(v.values));
  lua_pushnumber(L, static_cast<double>(v.count));
  lua_pushnumber(L, v.key_size);
  lua_pushnumber(L, v.value_size);
  return 5;
}

const char* kindCode(bpf::FieldKind k) {
  switch (k) {
    case bpf::FieldKind::kSigned: return "s";
    case bpf::FieldKind::kBool: return "b";
    case bpf::FieldKind::kEnum: return "e";
    case bpf::FieldKind::kFloat: return "f";
    case bpf::FieldKind::kString: return "str";
    case bpf::FieldKind::kBytes: return "bytes";
    default: return "u";
  }
}

// A layout as the prelude declares its FFI struct from it.
void pushLayout(lua_State* L, const bpf::Layout& l, const std::string& map, int which) {
  std::vector<bool> emitted;
  const std::string cdecl = l.cDeclaration("bpfex_layout", &emitted);
  lua_newtable(L);
  lua_pushstring(L, cdecl.c_str());
  lua_setfield(L, -2, "cdecl");
  lua_pushstring(L, "bpfex_layout");
  lua_setfield(L, -2, "struct_name");
  lua_pushstring(L, map.c_str());
  lua_setfield(L, -2, "map_name");
  lua_pushinteger(L, which);
  lua_setfield(L, -2, "which");
  lua_newtable(L);
  for (size_t i = 0; i < l.fields().size(); ++i) {
    const bpf::Field& f = l.fields()[i];
    lua_newtable(L);
    lua_pushstring(L, f.name.c_str());
    lua_setfield(L, -2, "name");
    lua_pushstring(L, bpf::Layout::cMemberName(i, f).c_str());
    lua_setfield(L, -2, "cname");
    lua_pushstring(L, kindCode(f.kind));
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, f.count);
    lua_setfield(L, -2, "count");
    lua_pushinteger(L, f.size);
    lua_setfield(L, -2, "size");
    // Floats take the C++ path too: LuaJIT's FFI hands a NaN read from
    // memory to Lua with its payload, and LuaJIT's NaN-tagged values take
    // some payloads for nil or a pointer (a random float crashed the
    // daemon: decode_diff seed 22). lua_pushnumber canonicalizes NaNs.
    lua_pushboolean(L, emitted[i] && f.kind != bpf::FieldKind::kBytes && f.kind != bpf::FieldKind::kFloat);
    lua_setfield(L, -2, "emitted");
    if (f.enums) {
      lua_newtable(L);
      // Keyed as the accessor reads the field: a number, or beyond 2^53 the
      // exact digits in the enum's signedness.
      for (const auto& [v, n] : f.enums->values) {
        pushExact(L, f.enums->is_signed ? v : static_cast<int64_t>(0), f.enums->is_signed ? 0 : static_cast<uint64_t>(v),
                  f.enums->is_signed);
        lua_pushstring(L, n.c_str());
        lua_rawset(L, -3);
      }
      lua_setfield(L, -2, "enums");
    }
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "fields");
}

int mapLayout(lua_State* L) {
  const std::string name = luaL_checkstring(L, 1);
  const MapView& v = view(L, name);
  pushLayout(L, *v.key_layout, name, 0);
  pushLayout(L, *v.value_layout, name, 1);
  return 2;
}

// Slow path for fields FFI cannot declare (bitfields, union alternatives, bytes).
int readField(lua_State* L) {
  const std::string name = luaL_checkstring(L, 1);
  const int which = static_cast<int>(luaL_checkinteger(L, 2));
  const auto fi = static_cast<size_t>(luaL_checkinteger(L, 3));
  const size_t idx = checkWhole(L, 4, "entry index");
  const MapView& v = view(L, name);
  const bpf::Layout& l = which == 0 ? *v.key_layout : *v.value_layout;
  if (fi < 1 || fi > l.fields().size() || idx >= v.count) return luaL_error(L, "field read out of range");
  const uint8_t* base = which == 0 ? v.keys + idx * v.key_size : v.values + idx * v.value_size;
  pushDecoded(L, l.fields()[fi - 1], base);  // as lookup() shows it
  return 1;
}

// One scalar of a lookup key from the value on top of the stack, in any form
// a view gives it: a number, a boolean, or text as configs take it (digit
// strings for values beyond 2^53, enum names: bpf::encodeValue).
void writeKeyScalar(lua_State* L, const bpf::Field& f, uint32_t e, uint8_t* kb, const std::string& map) {
  const int t = lua_type(L, -1);
  if (f.kind == bpf::FieldKind::kFloat) {
    const double d = luaL_checknumber(L, -1);
    if (f.size == 4) {
      const auto x = static_cast<float>(d);
      std::memcpy(kb + f.offset + e * 4, &x, 4);
    } else {
      std::memcpy(kb + f.offset + e * 8, &d, 8);
    }
    return;
  }
  if (t == LUA_TSTRING) {
    auto u = bpf::encodeValue(f, lua_tostring(L, -1));
    if (!u) luaL_error(L, "lookup in %s: %s", map.c_str(), u.error().message().c_str());
    return bpf::writeUnsigned(f, kb, u.value(), e);
  }
  if (t == LUA_TBOOLEAN) return bpf::writeUnsigned(f, kb, lua_toboolean(L, -1) ? 1 : 0, e);
  const double d = luaL_checknumber(L, -1);
  if (std::trunc(d) != d || d < -9223372036854775808.0 || d >= 18446744073709551616.0)
    luaL_error(L, "lookup in %s: key field %s: %s is not an integer", map.c_str(), f.name.c_str(), lua_tostring(L, -1));
  bpf::writeUnsigned(f, kb, d < 0 ? static_cast<uint64_t>(static_cast<int64_t>(d)) : static_cast<uint64_t>(d), e);
}

// A number as labels write it (exact digits when integral), else nil: the
// sandbox's tostring for numbers beyond %.14g's 14 digits.
int integerText(lua_State* L) {
  const double d = luaL_checknumber(L, 1);
  if (std::trunc(d) != d) {
    lua_pushnil(L);
    return 1;
  }
  char buf[metrics::kMaxNumberChars];
  lua_pushlstring(L, buf, static_cast<size_t>(metrics::formatLabelNumber(buf, d) - buf));
  return 1;
}

// The key the table at idx names, every field required but a union's later
// alternatives (a field whose bits overlap an earlier one's).
std::string lookupKey(lua_State* L, int idx, const MapView& v, const std::string& name) {
  std::string key(v.key_size, '\0');
  auto* kb = reinterpret_cast<uint8_t*>(key.data());
  uint64_t bits_seen = 0;
  for (const bpf::Field& f : v.key_layout->fields()) {
    const uint64_t start = uint64_t{f.offset} * 8 + f.bit_shift;
    const uint64_t bits = f.bit_size != 0 ? f.bit_size
                          : uint64_t{8} * (f.kind == bpf::FieldKind::kString || f.kind == bpf::FieldKind::kBytes ? f.size : f.size * f.count);
    const bool alternative = start < bits_seen;
    bits_seen = std::max(bits_seen, start + bits);
    rawField(L, idx, f.name.c_str());
    const int t = lua_type(L, -1);
    if (t == LUA_TNIL && alternative) {
      lua_pop(L, 1);
      continue;
    }
    if (t == LUA_TNIL) luaL_error(L, "lookup in %s: key field %s missing", name.c_str(), f.name.c_str());
    if (f.kind == bpf::FieldKind::kString) {
      size_t len = 0;
      const char* s = luaL_checklstring(L, -1, &len);
      std::memcpy(kb + f.offset, s, std::min<size_t>(len, f.size));
    } else if (f.kind == bpf::FieldKind::kBytes) {  // hex, as views show it
      size_t len = 0;
      const char* s = luaL_checklstring(L, -1, &len);
      if (len != 2 * f.size)
        luaL_error(L, "lookup in %s: key field %s: give %d hex digits", name.c_str(), f.name.c_str(), static_cast<int>(2 * f.size));
      for (uint32_t b = 0; b < f.size; ++b) {
        uint8_t byte = 0;
        if (auto [p, ec] = std::from_chars(s + 2 * b, s + 2 * b + 2, byte, 16); ec != std::errc() || p != s + 2 * b + 2)
          luaL_error(L, "lookup in %s: key field %s: \"%s\" is not hex", name.c_str(), f.name.c_str(), s);
        kb[f.offset + b] = byte;
      }
    } else if (f.count > 1) {  // an array of scalars: a table, as views give it
      if (t != LUA_TTABLE) luaL_error(L, "lookup in %s: key field %s is an array: give a table", name.c_str(), f.name.c_str());
      for (uint32_t e = 0; e < f.count; ++e) {
        lua_rawgeti(L, -1, static_cast<int>(e + 1));
        if (lua_isnil(L, -1))
          luaL_error(L, "lookup in %s: key field %s[%d] missing", name.c_str(), f.name.c_str(), static_cast<int>(e + 1));
        writeKeyScalar(L, f, e, kb, name);
        lua_pop(L, 1);
      }
    } else {
      writeKeyScalar(L, f, 0, kb, name);
    }
    lua_pop(L, 1);
  }
  return key;
}

// m:lookup({field = value, ...}) -> the entry's value as a table, or nil.
int mapLookup(lua_State* L) {
  const std::string name = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  MapCache& c = cached(L, name);
  const MapView& v = c.view;
  const std::string key = lookupKey(L, 2, v, name);
  if (c.index_tick != c.tick) {
    c.index.clear();
    c.index.reserve(v.count);
    for (size_t i = 0; i < v.count; ++i)
      c.index.emplace(std::string(reinterpret_cast<const char*>(v.keys + i * v.key_size), v.key_size),
                      static_cast<uint32_t>(i));
    c.index_tick = c.tick;
  }
  auto it = c.index.find(key);
  if (it == c.index.end()) {
    lua_pushnil(L);
    return 1;
  }
  const uint8_t* vb = v.values + static_cast<size_t>(it->second) * v.value_size;
  lua_createtable(L, 0, static_cast<int>(v.value_layout->fields().size()));
  for (const bpf::Field& f : v.value_layout->fields()) {
    pushDecoded(L, f, vb);
    lua_setfield(L, -2, f.name.c_str());
  }
  return 1;
}

int mapInfo(lua_State* L) {
  const MapView& v = view(L, luaL_checkstring(L, 1));
  if (!v.unavailable.empty()) {  // not there now: nothing to say about it
    lua_pushnil(L);
    return 1;
  }
  lua_newtable(L);
  lua_pushstring(L, v.info->name.c_str());
  lua_setfield(L, -2, "name");
  lua_pushstring(L, std::string(bpf::mapTypeName(v.info->type)).c_str());
  lua_setfield(L, -2, "type");
  lua_pushnumber(L, v.info->max_entries);
  lua_setfield(L, -2, "max_entries");
  lua_pushnumber(L, static_cast<double>(v.count));
  lua_setfield(L, -2, "entries");
  lua_pushnumber(L, v.info->id);
  lua_setfield(L, -2, "id");
  return 1;
}

// api.map_enum(map, enum_name) -> {{value = v, name = "ENUMERATOR"}, ...} by
// value, from the map's BTF: the ABI's own names and order.
int mapEnum(lua_State* L) {
  RuleCore* r = core(L);
  const std::string map = luaL_checkstring(L, 1), name = luaL_checkstring(L, 2);
  if (!r->in_tick || r->ctx == nullptr || r->ctx->data == nullptr)
    return luaL_error(L, "bpf map %s: enums are read in on_tick functions", map.c_str());
  auto e = r->ctx->data->enumByName(map, name);
  if (!e) return luaL_error(L, "%s", e.error().message().c_str());
  lua_createtable(L, static_cast<int>(e->values.size()), 0);
  int i = 0;
  for (const auto& [v, n] : e->values) {
    lua_createtable(L, 0, 2);
    pushExact(L, e->is_signed ? v : 0, e->is_signed ? 0 : static_cast<uint64_t>(v), e->is_signed);
    lua_setfield(L, -2, "value");
    lua_pushlstring(L, n.data(), n.size());
    lua_setfield(L, -2, "name");
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

}  // namespace

void openBpfMapApi(Binder& b) {
  auto* maps = b.ownState<MapCaches>();
  b.handleType(kMapMeta, {});  // its methods: the prelude's (api.map_methods)
  b.functions(nullptr, {{"map_new", &guarded<&mapNew>}, {"map_name", &guarded<&mapName>},
                        {"map_export", &guarded<&mapExport>}, {"integer_text", &integerText}});
  b.functions(nullptr, {{"map_view", &guarded<&mapView>}, {"map_layout", &guarded<&mapLayout>},
                        {"map_info", &guarded<&mapInfo>}, {"map_lookup", &guarded<&mapLookup>},
                        {"read_field", &guarded<&readField>}, {"map_enum", &guarded<&mapEnum>}}, maps);
  lua_State* L = b.state();
  luaL_getmetatable(L, kMapMeta);
  lua_getfield(L, -1, "__index");
  b.setField("map_methods");
  lua_pop(L, 1);
}

}  // namespace bpfex::lua
