// Declared layouts ("u64 seq; char comm[16]; ...") for events and maps:
// parse, then read every field of a buffer of the layout's size.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "bpf/layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view decl(reinterpret_cast<const char*>(data), size);
  auto l = bpfex::bpf::Layout::fromDeclaration(decl);
  if (!l || l->size() > (1u << 20)) return 0;
  std::vector<uint8_t> buf(l->size(), 0xA5);
  for (const auto& f : l->fields()) {
    for (uint32_t i = 0; i < f.count && i < 64; ++i) (void)bpfex::bpf::formatField(f, buf.data(), i);
    if (f.isNumeric()) (void)bpfex::bpf::readNumber(f, buf.data());
  }
  return 0;
}
