// Accept and Accept-Encoding negotiation: any header a client sends. The
// input is split at the first newline: Accept, then Accept-Encoding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "metrics/exposition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string_view accept = in.substr(0, nl);
  const std::string_view encoding = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  const auto f = bpfex::metrics::negotiateFormat(accept);
  if (static_cast<size_t>(f) >= bpfex::metrics::kFormatCount) std::abort();
  (void)bpfex::metrics::acceptsGzip(encoding);
  (void)bpfex::metrics::contentType(f);
  return 0;
}
