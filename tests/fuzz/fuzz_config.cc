// The YAML configuration, then validation, as `bpfex check` reads it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bpfex::daemon::Config cfg;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (bpfex::daemon::loadConfigText(text, "fuzz.yaml", cfg)) {
    cfg.web_config_file.clear();  // no file reads from the fuzzer
    (void)bpfex::daemon::validateConfig(cfg);
  }
  return 0;
}
