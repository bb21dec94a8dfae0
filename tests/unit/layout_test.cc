// BTF decoding without privileges: the BTF comes from the test object file
// (decode_test.bpf.o, opened but not loaded), the bytes from C++ structs of
// the same header.
#include "bpf/layout.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "decode_test.h"

namespace bpfex::bpf {
namespace {

class LayoutFromObject : public ::testing::Test {
 protected:
  void SetUp() override {
    obj_ = bpf_object__open_file(DECODE_TEST_OBJ, nullptr);
    ASSERT_NE(obj_, nullptr) << "open " << DECODE_TEST_OBJ;
    bpf_map* m = bpf_object__find_map_by_name(obj_, "decode_pcpu");
    ASSERT_NE(m, nullptr);
    const struct btf* btf = bpf_object__btf(obj_);
    auto k = Layout::fromBtf(btf, bpf_map__btf_key_type_id(m), "key");
    ASSERT_TRUE(k.ok()) << k.error().message();
    key_ = k.value();
    auto v = Layout::fromBtf(btf, bpf_map__btf_value_type_id(m), "value");
    ASSERT_TRUE(v.ok()) << v.error().message();
    value_ = v.value();
    bpf_map* a = bpf_object__find_map_by_name(obj_, "decode_array");
    auto av = Layout::fromBtf(btf, bpf_map__btf_value_type_id(a), "value");
    ASSERT_TRUE(av.ok());
    array_value_ = av.value();
  }
  void TearDown() override { bpf_object__close(obj_); }

  const Field& key(const char* n) {
    const Field* f = key_.find(n);
    EXPECT_NE(f, nullptr) << n;
    return f ? *f : dummy_;
  }
  const Field& val(const char* n) {
    const Field* f = value_.find(n);
    EXPECT_NE(f, nullptr) << n;
    return f ? *f : dummy_;
  }

  bpf_object* obj_ = nullptr;
  Layout key_, value_, array_value_;
  Field dummy_;
};

TEST_F(LayoutFromObject, KeyFieldsHaveTheirNamesOffsetsAndKinds) {
  EXPECT_EQ(key_.size(), sizeof(test_key));
  std::vector<std::string> names;
  for (const auto& f : key_.fields()) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"u8v", "s8v", "u16v", "s16v", "u32v", "s32v", "u64v", "s64v", "col",
                                             "name", "in.port", "in.proto", "octets", "flag"}));
  EXPECT_EQ(key("u64v").offset, offsetof(test_key, u64v));
  EXPECT_EQ(key("in.proto").offset, offsetof(test_key, in) + offsetof(inner, proto));
  EXPECT_EQ(key("u32v").kind, FieldKind::kUnsigned);  // through the typedef
  EXPECT_EQ(key("s16v").kind, FieldKind::kSigned);
  EXPECT_EQ(key("col").kind, FieldKind::kEnum);
  EXPECT_EQ(key("name").kind, FieldKind::kString);
  EXPECT_EQ(key("name").size, 12u);
  EXPECT_EQ(key("octets").kind, FieldKind::kUnsigned);
  EXPECT_EQ(key("octets").count, 4u);
  EXPECT_EQ(key("flag").kind, FieldKind::kBool);
}

TEST_F(LayoutFromObject, DecodesEveryKeyFieldExactly) {
  test_key k{};
  k.u8v = 250;
  k.s8v = -7;
  k.u16v = 65000;
  k.s16v = -30000;
  k.u32v = 4000000000u;
  k.s32v = -2000000000;
  k.u64v = 18446744073709551615ull;
  k.s64v = -9000000000000000000ll;
  k.col = NEGATIVE;
  std::strcpy(k.name, "wg0-tunnel");
  k.in.port = 51820;
  k.in.proto = 17;
  k.octets[0] = 10, k.octets[1] = 0, k.octets[2] = 0, k.octets[3] = 1;
  k.flag = true;
  const auto* b = reinterpret_cast<const uint8_t*>(&k);
  EXPECT_EQ(readUnsigned(key("u8v"), b), 250u);
  EXPECT_EQ(readSigned(key("s8v"), b), -7);
  EXPECT_EQ(readUnsigned(key("u16v"), b), 65000u);
  EXPECT_EQ(readSigned(key("s16v"), b), -30000);
  EXPECT_EQ(readUnsigned(key("u32v"), b), 4000000000u);
  EXPECT_EQ(readSigned(key("s32v"), b), -2000000000);
  EXPECT_EQ(readUnsigned(key("u64v"), b), 18446744073709551615ull);
  EXPECT_EQ(readSigned(key("s64v"), b), -9000000000000000000ll);
  EXPECT_EQ(formatField(key("col"), b), "NEGATIVE");
  EXPECT_EQ(readNumber(key("col"), b), -3);
  EXPECT_EQ(formatField(key("name"), b), "wg0-tunnel");
  EXPECT_EQ(readUnsigned(key("in.port"), b), 51820u);
  EXPECT_EQ(readUnsigned(key("in.proto"), b), 17u);
  EXPECT_EQ(readUnsigned(key("octets"), b, 0), 10u);
  EXPECT_EQ(readUnsigned(key("octets"), b, 3), 1u);
  EXPECT_EQ(formatField(key("flag"), b), "true");
  EXPECT_EQ(formatField(key("s16v"), b), "-30000");
  k.col = BLUE;
  EXPECT_EQ(formatField(key("col"), b), "BLUE");
  k.col = static_cast<color>(42);
  EXPECT_EQ(formatField(key("col"), b), "42");  // no name: the number
}

TEST_F(LayoutFromObject, DecodesBitfieldsUnionsFloatsAndArrays) {
  test_value v{};
  v.count = 123456789012ull;
  v.low = 5;
  v.mid = 17;
  v.neg = -20;
  v.high = 200000;
  v.u.as_u32 = 0x04030201;
  v.delta = -42;
  v.ratio = 0.125;
  v.slots[0] = 1, v.slots[3] = 99;
  const auto* b = reinterpret_cast<const uint8_t*>(&v);
  EXPECT_EQ(value_.size(), sizeof(test_value));
  EXPECT_EQ(readUnsigned(val("count"), b), 123456789012ull);
  EXPECT_EQ(val("low").bit_size, 3);
  EXPECT_EQ(readUnsigned(val("low"), b), 5u);
  EXPECT_EQ(readUnsigned(val("mid"), b), 17u);
  EXPECT_EQ(readSigned(val("neg"), b), -20);
  EXPECT_EQ(readUnsigned(val("high"), b), 200000u);
  EXPECT_EQ(readUnsigned(val("u.as_u32"), b), 0x04030201u);
  EXPECT_EQ(readUnsigned(val("u.as_bytes"), b, 2), 3u);
  EXPECT_EQ(readSigned(val("delta"), b), -42);
  EXPECT_EQ(val("ratio").kind, FieldKind::kFloat);
  EXPECT_EQ(readNumber(val("ratio"), b), 0.125);
  EXPECT_EQ(val("slots").count, 4u);
  EXPECT_EQ(readUnsigned(val("slots"), b, 3), 99u);
}

TEST_F(LayoutFromObject, ScalarValuesGetTheGivenName) {
  ASSERT_EQ(array_value_.fields().size(), 1u);
  EXPECT_EQ(array_value_.fields()[0].name, "value");
  EXPECT_EQ(array_value_.fields()[0].size, 8u);
}

TEST_F(LayoutFromObject, CDeclarationKeepsOffsets) {
  const std::string decl = key_.cDeclaration("test_key");
  EXPECT_NE(decl.find("uint64_t f6_u64v;"), std::string::npos) << decl;
  EXPECT_NE(decl.find("char f9_name[12];"), std::string::npos) << decl;
  EXPECT_NE(decl.find("uint16_t f10_in_port;"), std::string::npos) << decl;
  EXPECT_NE(decl.find("int32_t f8_col;"), std::string::npos) << decl;  // a signed enum
  EXPECT_NE(decl.find("} __attribute__((packed));"), std::string::npos) << decl;  // offsets are the pads'
}

TEST(LayoutDeclaration, LaysOutWithCAlignment) {
  auto l = Layout::fromDeclaration("u8 proto; u32 ifindex; char name[16]; u64 slots[4]; s16 delta");
  ASSERT_TRUE(l.ok()) << l.error().message();
  EXPECT_EQ(l->find("proto")->offset, 0u);
  EXPECT_EQ(l->find("ifindex")->offset, 4u);
  EXPECT_EQ(l->find("name")->offset, 8u);
  EXPECT_EQ(l->find("name")->kind, FieldKind::kString);
  EXPECT_EQ(l->find("slots")->offset, 24u);
  EXPECT_EQ(l->find("slots")->count, 4u);
  EXPECT_EQ(l->find("delta")->offset, 56u);
  EXPECT_EQ(l->size(), 64u);
}

TEST(LayoutDeclaration, ErrorsNameTheDeclaration) {
  auto a = Layout::fromDeclaration("u32 ip; int role");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().message(), "declaration \"int role\": unknown type \"int\" (u8..u64, s8..s64, bool, char[N], f32, f64)");
  EXPECT_FALSE(Layout::fromDeclaration("char name").ok());
  EXPECT_FALSE(Layout::fromDeclaration("u32 x[0]").ok());
  EXPECT_FALSE(Layout::fromDeclaration("").ok());
}

TEST(LayoutEncode, NamedFieldsNumbersEnumsStringsAndIpv4) {
  auto l = Layout::fromDeclaration("u32 addr; u16 port; s32 delta; char name[8]; u8 flag");
  ASSERT_TRUE(l.ok()) << l.error().message();
  auto b = l->encode({{"addr", "10.201.0.2"}, {"port", "0x1f90"}, {"delta", "-5"}, {"name", "admin"}});
  ASSERT_TRUE(b.ok()) << b.error().message();
  ASSERT_EQ(b->size(), l->size());
  const uint8_t* p = b->data();
  EXPECT_EQ(p[0], 10);  // network byte order, as packets carry it
  EXPECT_EQ(p[3], 2);
  uint16_t port;
  std::memcpy(&port, p + l->find("port")->offset, 2);
  EXPECT_EQ(port, 8080);
  int32_t delta;
  std::memcpy(&delta, p + l->find("delta")->offset, 4);
  EXPECT_EQ(delta, -5);
  EXPECT_STREQ(reinterpret_cast<const char*>(p + l->find("name")->offset), "admin");
  EXPECT_EQ(p[l->find("flag")->offset], 0);  // not named: zero
}

TEST(LayoutEncode, MistakesNameTheField) {
  auto l = Layout::fromDeclaration("u32 addr; u8 small; char name[4]");
  ASSERT_TRUE(l.ok());
  auto e = l->encode({{"adr", "1"}});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message().find("no field named adr (fields: addr, small, name)"), std::string::npos) << e.error().message();
  e = l->encode({{"small", "256"}});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message().find("field small: 256 does not fit in 1 bytes"), std::string::npos) << e.error().message();
  e = l->encode({{"small", "-1"}});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message().find("is negative"), std::string::npos);
  e = l->encode({{"name", "toolong"}});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message().find("longer than 3 bytes"), std::string::npos);
  e = l->encode({{"addr", "10.1.2"}});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message().find("not an IPv4 address"), std::string::npos);
}

TEST_F(LayoutFromObject, EncodeTakesEnumeratorNames) {
  for (const Field& f : key_.fields()) {
    if (f.kind != FieldKind::kEnum || !f.enums || f.enums->values.empty()) continue;
    const auto& [v, name] = f.enums->values.back();
    auto b = key_.encode({{f.name, name}});
    ASSERT_TRUE(b.ok()) << b.error().message();
    uint64_t got = 0;
    std::memcpy(&got, b->data() + f.offset, f.size);
    const uint64_t mask = f.size >= 8 ? ~0ull : (1ull << (8 * f.size)) - 1;
    EXPECT_EQ(got, static_cast<uint64_t>(v) & mask) << f.name << " " << name;
    return;
  }
  GTEST_SKIP() << "the test object's key has no enum field";
}

}  // namespace
}  // namespace bpfex::bpf

namespace bpfex::bpf {
namespace {

// One text form for configs, fixtures and lookup keys: every 64-bit value
// exactly, ranges by the field's width (bitfields by their bits).
TEST(LayoutEncodeValue, ExactAtTheEdgesOfEveryWidth) {
  const Field s64{.name = "d", .kind = FieldKind::kSigned, .size = 8};
  const Field u64{.name = "id", .kind = FieldKind::kUnsigned, .size = 8};
  const Field bits{.name = "low", .kind = FieldKind::kUnsigned, .size = 4, .bit_size = 3};
  EXPECT_EQ(encodeValue(s64, "-9223372036854775808").value(), uint64_t{1} << 63);
  EXPECT_EQ(encodeValue(u64, "18446744073709551615").value(), ~uint64_t{0});
  EXPECT_EQ(encodeValue(u64, "0xffffffffffffffff").value(), ~uint64_t{0});
  EXPECT_FALSE(encodeValue(s64, "-9223372036854775809").ok());
  EXPECT_FALSE(encodeValue(u64, "18446744073709551616").ok());
  EXPECT_FALSE(encodeValue(u64, "-1").ok());
  EXPECT_EQ(encodeValue(bits, "7").value(), 7u);
  EXPECT_FALSE(encodeValue(bits, "8").ok());
}

}  // namespace
}  // namespace bpfex::bpf
