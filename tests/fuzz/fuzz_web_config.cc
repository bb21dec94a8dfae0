// The exporter-toolkit web configuration; named files read as empty.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "export/web_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = bpfex::exporter::parseWebConfig(text, "fuzz.yml", "/nonexistent",
                                             [](const std::string&) -> bpfex::base::Result<std::string> { return std::string(); });
  if (cfg) (void)cfg->tlsPriorities();
  return 0;
}
