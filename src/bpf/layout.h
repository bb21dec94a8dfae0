// Layout: the named fields of a map's key or value, decoded from BTF (or from
// a declaration the rule gives for maps without BTF), so operators never write
// offsets. Nested structs and unions are flattened into dotted names
// ("in.port"), arrays of structs into indexed names ("peers[2].addr"); arrays
// of scalars stay one field with a count ("slots", count 64); char arrays
// are strings; enums carry their names; bitfields their bit position.
//
// Thread safety: a Layout is immutable after construction; the read functions
// are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

struct btf;

namespace bpfex::bpf {

enum class FieldKind : uint8_t { kUnsigned, kSigned, kBool, kEnum, kFloat, kString, kBytes };

struct EnumValues {
  bool is_signed = false;
  std::vector<std::pair<int64_t, std::string>> values;
};

// Enum `name` ("bpfex_hook" or "enum bpfex_hook") of `btf`, its enumerators
// sorted by value. ENOENT when the BTF has no such enum.
base::Result<EnumValues> enumByName(const struct btf* btf, std::string_view name);

struct Field {
  std::string name;
  FieldKind kind = FieldKind::kUnsigned;
  uint32_t offset = 0;     // bytes from the start of the key/value
  uint32_t size = 0;       // bytes of one element (1, 2, 4, 8; strings/bytes: their length)
  uint32_t count = 1;      // > 1: an array of `count` scalars, `size` bytes apart
  uint8_t bit_shift = 0;   // bitfields: bit position within the byte at `offset`
  uint8_t bit_size = 0;    // bitfields: width in bits; 0 for whole-byte fields
  std::shared_ptr<const EnumValues> enums;  // kEnum only

  bool isNumeric() const { return kind != FieldKind::kString && kind != FieldKind::kBytes; }
};

class Layout {
 public:
  Layout() = default;
  Layout(std::vector<Field> fields, uint32_t size) : fields_(std::move(fields)), size_(size) {}

  // Decodes type `type_id` of `btf` (typedefs and qualifiers resolved). A
  // scalar type becomes one field named `scalar_name`.
  static base::Result<Layout> fromBtf(const struct btf* btf, uint32_t type_id,
                                      std::string_view scalar_name = "value");
  // "u32 ifindex; u8 proto; char name[16]; u64 slots[64]; s32 delta": C-like
  // declarations, laid out with C alignment. Types: u8 u16 u32 u64 s8 s16 s32
  // s64 bool char (arrays only) f32 f64. Errors name the declaration.
  static base::Result<Layout> fromDeclaration(std::string_view decl);

  const std::vector<Field>& fields() const { return fields_; }
  uint32_t size() const { return size_; }
  const Field* find(std::string_view name) const;
  // Encodes `values` (field name -> text) into a zeroed buffer of size():
  // numbers (decimal, 0x hex, negative for signed), true/false, enum names,
  // strings for char arrays, and dotted IPv4 addresses for 4-byte unsigned
  // fields (stored in network byte order, as the data path sees them).
  // Fields not named stay zero. Errors name the field.
  base::Result<std::vector<uint8_t>> encode(const std::vector<std::pair<std::string, std::string>>& values) const;
  // A C declaration of the layout's leaf fields, e.g. for LuaJIT's ffi.cdef.
  // Bitfields and unions are not representable there and are left out
  // (padding keeps the offsets right).
  // `emitted` (optional) receives, per field, whether the declaration has it.
  // The struct is packed with explicit padding, so every member sits at its
  // field's offset even in packed layouts (an unaligned __s16 at byte 39).
  std::string cDeclaration(std::string_view struct_name, std::vector<bool>* emitted = nullptr) const;
  // Field `index`'s member name in that declaration: unique ("f3_in_port"),
  // where dotted names alone could collide ("a.b" and "a_b").
  static std::string cMemberName(size_t index, const Field& f);
  // The layout of a per-CPU value summed across CPUs: the same fields, in the
  // same order, each at its own offset (union alternatives no longer share
  // bytes). Integer fields of any width, bitfields included, become 8 bytes
  // of the same signedness, since a sum of __u32 counters is not a __u32;
  // other fields keep their type and lose their bit position.
  Layout summed() const;

 private:
  std::vector<Field> fields_;
  uint32_t size_ = 0;
};

// One value in the text form configs, fixtures and lookup keys use: a
// number (decimal, 0x hex, negative for signed fields; every 64-bit value
// exactly), true/false, an enum's name, or a dotted IPv4 address for a
// 4-byte unsigned field (network byte order). Errors name the field.
base::Result<uint64_t> encodeValue(const Field& f, std::string_view text);

// Readers. `base` points at the key or value; `i` selects an array element.
uint64_t readUnsigned(const Field& f, const uint8_t* base, uint32_t i = 0);
int64_t readSigned(const Field& f, const uint8_t* base, uint32_t i = 0);
// The inverse of readUnsigned: stores the low bits of `v` (a bitfield's
// bits only, the bytes around it kept).
void writeUnsigned(const Field& f, uint8_t* base, uint64_t v, uint32_t i = 0);
// Any numeric field as a double (signed fields sign-extended).
double readNumber(const Field& f, const uint8_t* base, uint32_t i = 0);
// char arrays up to the first NUL.
std::string_view readString(const Field& f, const uint8_t* base);
// The enumerator's name, or "" when the value has none.
std::string_view enumName(const Field& f, int64_t value);
// Integers that a float64 holds exactly: |v| < 2^53. Beyond, Lua sees the
// exact decimal digits (a string) instead of a rounded number.
constexpr uint64_t kExactDoubleLimit = uint64_t{1} << 53;
bool isIntegerKind(FieldKind k);
// Whether the field's value at `i` reads as signed (signed ints, signed enums).
bool readsSigned(const Field& f);
// What a label shows: integers in decimal, enums by name (number when
// unnamed), strings as text, bytes as hex, floats in shortest form.
std::string formatField(const Field& f, const uint8_t* base, uint32_t i = 0);

}  // namespace bpfex::bpf
