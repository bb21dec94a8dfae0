// Alert annotation templates: parse, then expand with labels and a value.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

#include "engine/alert_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < sizeof(double)) return 0;
  double value;
  std::memcpy(&value, data, sizeof value);
  const std::string_view text(reinterpret_cast<const char*>(data) + sizeof value, size - sizeof value);
  auto t = bpfex::engine::AlertTemplate::parse(text);
  if (!t) return 0;
  const std::map<std::string, std::string> labels = {{"instance", "a:1"}, {"job", "x"}, {"severity", "page"}};
  const std::map<std::string, std::string> ext = {{"cluster", "c1"}};
  (void)t->expand({.labels = &labels, .external_labels = &ext, .value = value});
  return 0;
}
