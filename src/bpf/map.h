// Map: a handle on a kernel BPF map, ours or another daemon's. Opening a
// foreign map asks for read-only access first (BPF_F_RDONLY) and only falls
// back to read-write where the kernel refuses that. The handle knows the map's
// metadata and can decode its key and value through the map's BTF.
//
// Thread safety: a Map is immutable after open; reading it concurrently with
// others is safe (the kernel serialises per entry).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"
#include "bpf/layout.h"

namespace bpfex::bpf {

struct MapInfo {
  uint32_t id = 0;
  std::string name;
  uint32_t type = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t map_flags = 0;
  uint32_t btf_id = 0;
  uint32_t btf_key_type_id = 0;
  uint32_t btf_value_type_id = 0;
};

std::string_view mapTypeName(uint32_t type);
bool isPerCpuMapType(uint32_t type);

class Map {
 public:
  // Takes ownership of `fd`; reads the map's info. `label` names it in errors.
  static base::Result<Map> fromFd(base::UniqueFd fd, std::string label);
  static base::Result<Map> openPinned(const std::string& path);
  static base::Result<Map> openById(uint32_t id);
  // Enumerates the kernel's maps for one named `name` (kernel names are at
  // most 15 characters). Zero or several matches are errors listing the ids.
  static base::Result<Map> openByName(std::string_view name);

  int fd() const { return fd_.get(); }
  const MapInfo& info() const { return info_; }
  const std::string& label() const { return label_; }
  bool perCpu() const { return isPerCpuMapType(info_.type); }
  bool readOnly() const { return read_only_; }

  // Key and value layouts from the map's BTF; an error when it has none (use
  // Layout::fromDeclaration then). Loaded once and cached.
  base::Result<Layout> keyLayout() const;
  base::Result<Layout> valueLayout() const;
  // The BTF the map was created with, when the caller has it (a loaded
  // object's own): layouts come from it instead of the kernel, whose
  // BPF_BTF_GET_FD_BY_ID needs CAP_SYS_ADMIN. `btf` must outlive the map.
  void useBtf(const struct btf* btf, uint32_t key_type_id, uint32_t value_type_id);
  // Enum `name` of the map's BTF (its object's): what bpf.enum gives rules.
  base::Result<EnumValues> enumByName(std::string_view name) const;

 private:
  Map(base::UniqueFd fd, MapInfo info, std::string label, bool ro)
      : fd_(std::move(fd)), info_(std::move(info)), label_(std::move(label)), read_only_(ro) {}
  base::Result<Layout> layoutOf(uint32_t type_id, const char* what) const;
  base::Result<const struct btf*> btf(const char* what) const;

  base::UniqueFd fd_;
  MapInfo info_;
  std::string label_;
  bool read_only_ = false;
  mutable std::shared_ptr<struct btf> btf_;
};

// Number of possible CPUs (the stride of per-CPU values), cached.
int possibleCpus();

}  // namespace bpfex::bpf
