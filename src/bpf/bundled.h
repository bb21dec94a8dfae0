// The bundled BPF objects, embedded in the binary through their skeletons
// (each skeleton header is included by bundled.cc only).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "base/result.h"

namespace bpfex::bpf {

struct ElfImage {
  const void* data;
  size_t size;
};

base::Result<ElfImage> bundledElf(const std::string& name);
std::vector<std::string> bundledObjectNames();

}  // namespace bpfex::bpf
