// The push input validator: what `bpfex push FILE.prom` and stdin accept.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "metrics/text_validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)bpfex::metrics::validateText004(text, "fuzz", {});
  return 0;
}
