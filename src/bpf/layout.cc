#include "bpf/layout.h"

#include <arpa/inet.h>
#include <bpf/btf.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace bpfex::bpf {

namespace {

// The enumerators of enum type t, in the BTF's order.
EnumValues enumValuesOf(const struct btf* btf, const struct btf_type* t) {
  EnumValues ev;
  const uint16_t n = btf_vlen(t);
  // Signedness: BTF's kflag where the compiler sets it (clang >= 15);
  // without it (clang 14, Debian 12's), C's rule: an enum with a negative
  // enumerator is signed.
  ev.is_signed = btf_kflag(t);
  if (btf_is_enum(t)) {
    const struct btf_enum* e = btf_enum(t);
    for (uint16_t i = 0; i < n; ++i) ev.is_signed = ev.is_signed || e[i].val < 0;
    for (uint16_t i = 0; i < n; ++i) {
      const int64_t v = ev.is_signed ? static_cast<int64_t>(e[i].val) : static_cast<int64_t>(static_cast<uint32_t>(e[i].val));
      ev.values.emplace_back(v, btf__name_by_offset(btf, e[i].name_off));
    }
  } else {
    const struct btf_enum64* e = btf_enum64(t);
    for (uint16_t i = 0; i < n; ++i)
      ev.values.emplace_back(static_cast<int64_t>(btf_enum64_value(e + i)), btf__name_by_offset(btf, e[i].name_off));
  }
  return ev;
}

}  // namespace

base::Result<EnumValues> enumByName(const struct btf* btf, std::string_view name) {
  if (name.rfind("enum ", 0) == 0) name.remove_prefix(5);
  const std::string n(name);
  for (const int kind : {static_cast<int>(BTF_KIND_ENUM), static_cast<int>(BTF_KIND_ENUM64)}) {
    const int id = btf__find_by_name_kind(btf, n.c_str(), kind);
    if (id > 0) {
      EnumValues ev = enumValuesOf(btf, btf__type_by_id(btf, static_cast<uint32_t>(id)));
      std::sort(ev.values.begin(), ev.values.end());
      return ev;
    }
  }
  return base::Error(ENOENT, "enum " + n + " is not in the BTF");
}

using base::Error;
using base::Result;

namespace {

constexpr int kMaxDepth = 16;
constexpr uint32_t kMaxExpandedElements = 1024;  // arrays of structs flattened at most this far

struct BtfWalker {
  const struct btf* btf;
  std::vector<Field> out;

  Result<bool> walk(uint32_t type_id, const std::string& name, uint32_t bit_off, uint32_t bitfield,
                    int depth) {
    if (depth > kMaxDepth) return Error::msg("BTF type nesting deeper than " + std::to_string(kMaxDepth));
    const uint32_t id = static_cast<uint32_t>(btf__resolve_type(btf, type_id));
    const struct btf_type* t = btf__type_by_id(btf, id);
    if (t == nullptr) return Error::msg("BTF type id " + std::to_string(type_id) + " not found");
    const uint32_t byte_off = bit_off / 8;

    if (btf_is_int(t) || btf_is_enum(t) || btf_is_enum64(t) || btf_is_float(t) || btf_is_ptr(t)) {
      Field f;
      f.name = name;
      f.offset = byte_off;
      f.size = btf_is_ptr(t) ? 8 : t->size;
      if (btf_is_int(t)) {
        const uint8_t enc = btf_int_encoding(t);
        f.kind = (enc & BTF_INT_BOOL) ? FieldKind::kBool
                 : (enc & BTF_INT_SIGNED) ? FieldKind::kSigned
                                          : FieldKind::kUnsigned;
        // BTF_KIND_INT may itself carry a bit offset/width (old-style bitfields).
        const uint32_t int_off = btf_int_offset(t), int_bits = btf_int_bits(t);
        if (int_off != 0 || int_bits != f.size * 8) {
          bit_off += int_off;
          if (bitfield == 0) bitfield = int_bits;
        }
      } else if (btf_is_float(t)) {
        f.kind = FieldKind::kFloat;
      } else if (btf_is_ptr(t)) {
        f.kind = FieldKind::kUnsigned;
      } else {
        auto ev = std::make_shared<EnumValues>(enumValuesOf(btf, t));
        f.kind = FieldKind::kEnum;
        f.enums = std::move(ev);
      }
      // Integers wider than 64 bits (__int128): no float64 or label number
      // holds them; they are served as bytes (hex, as stored).
      if (btf_is_int(t) && t->size > 8 && bitfield == 0) f.kind = FieldKind::kBytes;
      if (bitfield != 0) {
        f.offset = bit_off / 8;
        f.bit_shift = static_cast<uint8_t>(bit_off % 8);
        f.bit_size = static_cast<uint8_t>(bitfield);
        if (f.bit_size > 64) return Error::msg("field " + name + ": bitfield wider than 64 bits");
        // (In a packed struct a 64-bit bitfield may span 9 bytes: readUnsigned
        // takes the ninth.)
      }
      out.push_back(std::move(f));
      return true;
    }

    if (btf_is_array(t)) {
      const struct btf_array* a = btf_array(t);
      const uint32_t elem_id = static_cast<uint32_t>(btf__resolve_type(btf, a->type));
      const struct btf_type* et = btf__type_by_id(btf, elem_id);
      const auto elem_size = static_cast<uint32_t>(btf__resolve_size(btf, elem_id));
      if (et == nullptr) return Error::msg("field " + name + ": array element type not found");
      // char[N]: a string.
      if (btf_is_int(et) && elem_size == 1) {
        const char* tn = btf__name_by_offset(btf, et->name_off);
        if (tn != nullptr && (std::strcmp(tn, "char") == 0 || std::strcmp(tn, "signed char") == 0)) {
          out.push_back(Field{.name = name, .kind = FieldKind::kString, .offset = byte_off, .size = a->nelems});
          return true;
        }
      }
      // Arrays of scalars: one field with a count.
      if (btf_is_int(et) || btf_is_enum(et) || btf_is_enum64(et) || btf_is_float(et) || btf_is_ptr(et)) {
        BtfWalker inner{btf, {}};
        auto r = inner.walk(elem_id, name, bit_off, 0, depth + 1);
        if (!r) return std::move(r).error();
        Field f = std::move(inner.out.front());
        f.count = a->nelems;
        out.push_back(std::move(f));
        return true;
      }
      if (a->nelems > kMaxExpandedElements)
        return Error::msg("field " + name + ": array of " + std::to_string(a->nelems) +
                          " compound elements is too large to flatten");
      for (uint32_t i = 0; i < a->nelems; ++i) {
        auto r = walk(elem_id, name + "[" + std::to_string(i) + "]", bit_off + i * elem_size * 8, 0, depth + 1);
        if (!r) return r;
      }
      return true;
    }

    if (btf_is_composite(t)) {
      const struct btf_member* m = btf_members(t);
      const uint16_t n = btf_vlen(t);
      for (uint16_t i = 0; i < n; ++i) {
        const char* mn = btf__name_by_offset(btf, m[i].name_off);
        std::string child = name;
        if (mn != nullptr && *mn != '\0') child = name.empty() ? mn : name + "." + mn;
        // Anonymous members (unnamed struct/union) keep the parent's prefix.
        auto r = walk(m[i].type, child, bit_off + btf_member_bit_offset(t, i),
                      btf_member_bitfield_size(t, i), depth + 1);
        if (!r) return r;
      }
      return true;
    }
    return Error::msg("field " + (name.empty() ? std::string("(top)") : name) + ": BTF kind " +
                      std::to_string(btf_kind(t)) + " cannot be decoded");
  }
};

struct DeclType {
  const char* name;
  FieldKind kind;
  uint32_t size;
};
constexpr DeclType kDeclTypes[] = {
    {"u8", FieldKind::kUnsigned, 1},  {"u16", FieldKind::kUnsigned, 2}, {"u32", FieldKind::kUnsigned, 4},
    {"u64", FieldKind::kUnsigned, 8}, {"s8", FieldKind::kSigned, 1},    {"s16", FieldKind::kSigned, 2},
    {"s32", FieldKind::kSigned, 4},   {"s64", FieldKind::kSigned, 8},   {"bool", FieldKind::kBool, 1},
    {"char", FieldKind::kString, 1},  {"f32", FieldKind::kFloat, 4},    {"f64", FieldKind::kFloat, 8},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// Little-endian hosts (x86-64, arm64): the value as stored. The common widths
// are fixed-size copies the compiler turns into one load; this is the inner
// loop of every decoded map read.
inline uint64_t loadLE(const uint8_t* p, uint32_t n) {
  switch (n) {
    case 1: return *p;
    case 2: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    case 8: { uint64_t v; std::memcpy(&v, p, 8); return v; }
    default: {
      uint64_t v = 0;
      std::memcpy(&v, p, n);
      return v;
    }
  }
}

}  // namespace

Result<Layout> Layout::fromBtf(const struct btf* btf, uint32_t type_id, std::string_view scalar_name) {
  if (btf == nullptr) return Error::msg("no BTF");
  const long size = btf__resolve_size(btf, type_id);
  if (size < 0) return Error::fromErrno(static_cast<int>(-size), "resolve size of BTF type " + std::to_string(type_id));
  BtfWalker w{btf, {}};
  const struct btf_type* t = btf__type_by_id(btf, static_cast<uint32_t>(btf__resolve_type(btf, type_id)));
  const bool scalar = t != nullptr && !btf_is_composite(t) && !btf_is_array(t);
  auto r = w.walk(type_id, scalar ? std::string(scalar_name) : std::string(), 0, 0, 0);
  if (!r) return std::move(r).error();
  // A top-level array of scalars (u64 value[64]) gets the scalar name too.
  if (!scalar && w.out.size() == 1 && w.out[0].name.empty()) w.out[0].name = std::string(scalar_name);
  return Layout(std::move(w.out), static_cast<uint32_t>(size));
}

Result<Layout> Layout::fromDeclaration(std::string_view decl) {
  std::vector<Field> fields;
  uint32_t off = 0, max_align = 1;
  while (!decl.empty()) {
    const size_t semi = decl.find(';');
    const std::string_view item = trim(decl.substr(0, semi));
    decl = semi == std::string_view::npos ? std::string_view() : decl.substr(semi + 1);
    if (item.empty()) continue;
    const size_t sp = item.find_first_of(" \t");
    if (sp == std::string_view::npos) return Error::msg("declaration \"" + std::string(item) + "\": expected TYPE NAME");
    const std::string_view type = item.substr(0, sp);
    std::string_view name = trim(item.substr(sp + 1));
    uint32_t count = 1;
    bool is_array = false;
    if (const size_t lb = name.find('['); lb != std::string_view::npos) {
      const size_t rb = name.find(']', lb);
      auto [p, ec] = std::from_chars(name.data() + lb + 1, name.data() + (rb == std::string_view::npos ? lb + 1 : rb), count);
      if (rb == std::string_view::npos || ec != std::errc() || count == 0 || count > (1u << 20))
        return Error::msg("declaration \"" + std::string(item) + "\": bad array length");
      name = trim(name.substr(0, lb));
      is_array = true;
    }
    const DeclType* dt = nullptr;
    for (const auto& d : kDeclTypes)
      if (type == d.name) dt = &d;
    if (dt == nullptr)
      return Error::msg("declaration \"" + std::string(item) + "\": unknown type \"" + std::string(type) +
                        "\" (u8..u64, s8..s64, bool, char[N], f32, f64)");
    if (dt->kind == FieldKind::kString && !is_array)
      return Error::msg("declaration \"" + std::string(item) + "\": char is only valid as char[N]");
    if (name.empty()) return Error::msg("declaration \"" + std::string(item) + "\": missing name");
    const uint32_t align = dt->size;
    off = (off + align - 1) / align * align;
    max_align = std::max(max_align, align);
    Field f{.name = std::string(name), .kind = dt->kind, .offset = off, .size = dt->size, .count = count};
    if (dt->kind == FieldKind::kString) {
      f.size = count;
      f.count = 1;
    }
    off += dt->size * count;
    fields.push_back(std::move(f));
  }
  if (fields.empty()) return Error::msg("declaration is empty");
  off = (off + max_align - 1) / max_align * max_align;
  return Layout(std::move(fields), off);
}

base::Result<uint64_t> encodeValue(const Field& f, std::string_view sv) {
  const std::string text(sv);
  const std::string what = "field " + f.name;
  if (f.kind == FieldKind::kBool) {
    if (text == "true" || text == "1") return 1;
    if (text == "false" || text == "0") return 0;
    return base::Error::msg(what + ": \"" + text + "\" is not true or false");
  }
  if (f.kind == FieldKind::kEnum && f.enums)
    for (const auto& [v, name] : f.enums->values)
      if (name == text) return static_cast<uint64_t>(v);
  if (f.kind == FieldKind::kUnsigned && f.size == 4 && text.find('.') != std::string::npos) {
    in_addr a{};
    if (inet_pton(AF_INET, text.c_str(), &a) != 1) return base::Error::msg(what + ": \"" + text + "\" is not an IPv4 address");
    return a.s_addr;  // already in network byte order; stored as-is
  }
  if (f.kind == FieldKind::kFloat) return base::Error::msg(what + ": floating-point fields cannot be set");
  std::string_view s = text;
  const bool neg = !s.empty() && s.front() == '-';
  if (neg) {
    if (!readsSigned(f)) return base::Error::msg(what + ": " + text + " is negative");
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    return base::Error::msg(what + ": \"" + text + "\" is not a number" +
                            (f.kind == FieldKind::kEnum ? " or a name of its enum" : ""));
  const uint32_t bits = f.bit_size != 0 ? f.bit_size : std::min<uint32_t>(f.size, 8) * 8;
  if ((!neg && bits < 64 && v >> bits != 0) || (neg && v > uint64_t{1} << (bits - 1)))
    return base::Error::msg(what + ": " + text + " does not fit in " +
                            (f.bit_size != 0 ? std::to_string(bits) + " bits" : std::to_string(f.size) + " bytes"));
  return neg ? ~v + 1 : v;  // two's complement, without a signed overflow at INT64_MIN
}


base::Result<std::vector<uint8_t>> Layout::encode(const std::vector<std::pair<std::string, std::string>>& values) const {
  std::vector<uint8_t> out(size_, 0);
  for (const auto& [name, text] : values) {
    const Field* f = find(name);
    if (f == nullptr) {
      std::string known;
      for (const Field& k : fields_) {
        if (!known.empty()) known += ", ";
        known += k.name;
      }
      return base::Error::msg("no field named " + name + " (fields: " + known + ")");
    }
    if (f->bit_size != 0 || f->count != 1) return base::Error::msg("field " + name + ": bitfields and arrays cannot be set");
    if (f->kind == FieldKind::kString || f->kind == FieldKind::kBytes) {
      if (text.size() >= f->size && f->kind == FieldKind::kString)
        return base::Error::msg("field " + name + ": \"" + text + "\" is longer than " + std::to_string(f->size - 1) + " bytes");
      std::memcpy(out.data() + f->offset, text.data(), std::min<size_t>(text.size(), f->size));
      continue;
    }
    auto v = encodeValue(*f, text);
    if (!v) return std::move(v).error();
    const uint64_t x = v.value();
    std::memcpy(out.data() + f->offset, &x, f->size);  // little-endian: the low bytes
  }
  return out;
}

const Field* Layout::find(std::string_view name) const {
  for (const auto& f : fields_)
    if (f.name == name) return &f;
  return nullptr;
}

std::string Layout::cMemberName(size_t index, const Field& f) {
  std::string cname = "f" + std::to_string(index) + "_" + f.name;
  for (char& c : cname)
    if (c == '.' || c == '[' || c == ']') c = '_';
  return cname;
}

std::string Layout::cDeclaration(std::string_view struct_name, std::vector<bool>* emitted) const {
  std::string out = "struct " + std::string(struct_name) + " {\n";
  uint32_t pos = 0;
  int pad = 0;
  if (emitted != nullptr) emitted->assign(fields_.size(), false);
  for (size_t fi = 0; fi < fields_.size(); ++fi) {
    const Field& f = fields_[fi];
    if (f.bit_size != 0 || f.offset < pos) continue;  // bitfields, union alternatives
    if (emitted != nullptr) (*emitted)[fi] = true;
    if (f.offset > pos) out += "  uint8_t _pad" + std::to_string(pad++) + "[" + std::to_string(f.offset - pos) + "];\n";
    std::string type;
    switch (f.kind) {
      case FieldKind::kString: case FieldKind::kBytes: type = "char"; break;
      case FieldKind::kFloat: type = f.size == 4 ? "float" : "double"; break;
      case FieldKind::kSigned: type = "int" + std::to_string(f.size * 8) + "_t"; break;
      case FieldKind::kEnum: type = (f.enums && f.enums->is_signed ? "int" : "uint") + std::to_string(f.size * 8) + "_t"; break;
      default: type = "uint" + std::to_string(f.size * 8) + "_t";
    }
    const std::string cname = cMemberName(fi, f);
    const uint32_t n = (f.kind == FieldKind::kString || f.kind == FieldKind::kBytes) ? f.size : f.count;
    out += "  " + type + " " + cname + (n > 1 || f.kind == FieldKind::kString ? "[" + std::to_string(n) + "]" : "") + ";\n";
    pos = f.offset + ((f.kind == FieldKind::kString || f.kind == FieldKind::kBytes) ? f.size : f.size * f.count);
  }
  if (size_ > pos) out += "  uint8_t _pad" + std::to_string(pad) + "[" + std::to_string(size_ - pos) + "];\n";
  return out + "} __attribute__((packed));\n";
}

Layout Layout::summed() const {
  std::vector<Field> out;
  out.reserve(fields_.size());
  uint32_t off = 0, max_align = 1;
  for (const Field& f : fields_) {
    Field w = f;
    w.bit_shift = 0;
    w.bit_size = 0;
    const bool text = f.kind == FieldKind::kString || f.kind == FieldKind::kBytes;
    if (isIntegerKind(f.kind)) w.size = 8;
    const uint32_t align = text ? 1 : std::min<uint32_t>(w.size, 8);
    off = (off + align - 1) / align * align;
    max_align = std::max(max_align, align);
    w.offset = off;
    off += text ? w.size : w.size * w.count;
    out.push_back(std::move(w));
  }
  off = (off + max_align - 1) / max_align * max_align;
  return Layout(std::move(out), std::max<uint32_t>(off, 1));
}

bool isIntegerKind(FieldKind k) { return k == FieldKind::kUnsigned || k == FieldKind::kSigned; }

bool readsSigned(const Field& f) {
  return f.kind == FieldKind::kSigned || (f.kind == FieldKind::kEnum && f.enums && f.enums->is_signed);
}

uint64_t readUnsigned(const Field& f, const uint8_t* base, uint32_t i) {
  if (f.bit_size != 0) {
    const uint32_t nbytes = (f.bit_shift + f.bit_size + 7u) / 8u;
    uint64_t v = loadLE(base + f.offset, std::min<uint32_t>(nbytes, 8)) >> f.bit_shift;
    if (nbytes > 8) v |= uint64_t{base[f.offset + 8]} << (64 - f.bit_shift);  // a packed field's ninth byte
    return f.bit_size == 64 ? v : v & ((uint64_t{1} << f.bit_size) - 1);
  }
  return loadLE(base + f.offset + i * f.size, std::min<uint32_t>(f.size, 8));
}

void writeUnsigned(const Field& f, uint8_t* base, uint64_t v, uint32_t i) {
  if (f.bit_size != 0) {
    // Bit by bit: a bitfield may span up to 9 bytes in a packed struct.
    for (uint32_t b = 0; b < f.bit_size; ++b) {
      const uint32_t at = f.bit_shift + b;
      uint8_t& byte = base[f.offset + at / 8];
      const auto bit = static_cast<uint8_t>(1u << (at % 8));
      byte = static_cast<uint8_t>((v >> b) & 1 ? byte | bit : byte & ~bit);
    }
    return;
  }
  std::memcpy(base + f.offset + i * f.size, &v, std::min<uint32_t>(f.size, 8));
}

int64_t readSigned(const Field& f, const uint8_t* base, uint32_t i) {
  const uint64_t u = readUnsigned(f, base, i);
  const uint32_t bits = f.bit_size != 0 ? f.bit_size : std::min<uint32_t>(f.size, 8) * 8;
  if (bits >= 64) return static_cast<int64_t>(u);
  const uint64_t sign = uint64_t{1} << (bits - 1);
  return static_cast<int64_t>((u ^ sign) - sign);
}

double readNumber(const Field& f, const uint8_t* base, uint32_t i) {
  switch (f.kind) {
    case FieldKind::kFloat: {
      const uint8_t* p = base + f.offset + i * f.size;
      if (f.size == 4) {
        float v;
        std::memcpy(&v, p, 4);
        return v;
      }
      double v;
      std::memcpy(&v, p, 8);
      return v;
    }
    case FieldKind::kSigned: return static_cast<double>(readSigned(f, base, i));
    case FieldKind::kEnum:
      return f.enums && f.enums->is_signed ? static_cast<double>(readSigned(f, base, i))
                                           : static_cast<double>(readUnsigned(f, base, i));
    case FieldKind::kString:
    case FieldKind::kBytes: return 0;
    default: return static_cast<double>(readUnsigned(f, base, i));
  }
}

std::string_view readString(const Field& f, const uint8_t* base) {
  const char* p = reinterpret_cast<const char*>(base + f.offset);
  return {p, strnlen(p, f.size)};
}

std::string_view enumName(const Field& f, int64_t value) {
  if (!f.enums) return {};
  for (const auto& [v, n] : f.enums->values)
    if (v == value) return n;
  return {};
}

std::string formatField(const Field& f, const uint8_t* base, uint32_t i) {
  switch (f.kind) {
    case FieldKind::kString: return std::string(readString(f, base));
    case FieldKind::kBytes: {
      static const char* kHex = "0123456789abcdef";
      std::string s;
      for (uint32_t k = 0; k < f.size; ++k) {
        s += kHex[base[f.offset + k] >> 4];
        s += kHex[base[f.offset + k] & 15];
      }
      return s;
    }
    case FieldKind::kEnum: {
      // Enumerators are kept as int64 bit patterns; an unnamed value prints
      // in the enum's own signedness (a u64 enum's 2^63 is not negative).
      if (readsSigned(f)) {
        const int64_t v = readSigned(f, base, i);
        const std::string_view n = enumName(f, v);
        return n.empty() ? std::to_string(v) : std::string(n);
      }
      const uint64_t u = readUnsigned(f, base, i);
      const std::string_view n = enumName(f, static_cast<int64_t>(u));
      return n.empty() ? std::to_string(u) : std::string(n);
    }
    case FieldKind::kSigned: return std::to_string(readSigned(f, base, i));
    case FieldKind::kFloat: {
      char buf[32];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, readNumber(f, base, i));
      return std::string(buf, p);
    }
    case FieldKind::kBool: return readUnsigned(f, base, i) ? "true" : "false";
    default: return std::to_string(readUnsigned(f, base, i));
  }
}

}  // namespace bpfex::bpf
