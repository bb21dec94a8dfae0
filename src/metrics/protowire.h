// Protobuf wire-format writers: the few primitives bpfex's two hand-written
// encoders share (the protobuf exposition, metrics/protobuf.cc, and remote
// write's WriteRequest, export/remote_write_encode.cc). Both schemas are
// small and fixed, and both encoders write straight into their output with
// no message objects per series; see each file for why not protobuf-c.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace bpfex::metrics::wire {

// Wire types.
inline constexpr uint32_t kVarint = 0, kFixed64 = 1, kLen = 2;

inline void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
inline void tag(std::string& out, uint32_t field, uint32_t wire) { varint(out, (uint64_t{field} << 3) | wire); }
inline void doubleField(std::string& out, uint32_t field, double v) {
  tag(out, field, kFixed64);
  char b[8];
  std::memcpy(b, &v, 8);  // little-endian IEEE 754, as the wire format is
  out.append(b, 8);
}
inline void uintField(std::string& out, uint32_t field, uint64_t v) {
  tag(out, field, kVarint);
  varint(out, v);
}
inline uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline void sintField(std::string& out, uint32_t field, int64_t v) {
  tag(out, field, kVarint);
  varint(out, zigzag(v));
}
inline void bytesField(std::string& out, uint32_t field, std::string_view s) {
  tag(out, field, kLen);
  varint(out, s.size());
  out.append(s);
}

inline char* putVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline size_t varintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

}  // namespace bpfex::metrics::wire
