#include "bpf/map.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace bpfex::bpf {

using base::Error;
using base::Result;
using base::UniqueFd;

std::string_view mapTypeName(uint32_t type) {
  const char* n = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(type));
  return n ? n : "unknown";
}

bool isPerCpuMapType(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

int possibleCpus() {
  static const int n = libbpf_num_possible_cpus();
  return n > 0 ? n : 1;
}

Result<Map> Map::fromFd(UniqueFd fd, std::string label) {
  bpf_map_info raw{};
  uint32_t len = sizeof raw;
  if (bpf_obj_get_info_by_fd(fd.get(), &raw, &len) != 0)
    return Error::fromErrno(errno, "get info of map " + label);
  MapInfo info;
  info.id = raw.id;
  info.name = raw.name;
  info.type = raw.type;
  info.key_size = raw.key_size;
  info.value_size = raw.value_size;
  info.max_entries = raw.max_entries;
  info.map_flags = raw.map_flags;
  info.btf_id = raw.btf_id;
  info.btf_key_type_id = raw.btf_key_type_id;
  info.btf_value_type_id = raw.btf_value_type_id;
  return Map(std::move(fd), std::move(info), std::move(label), false);
}

Result<Map> Map::openPinned(const std::string& path) {
  LIBBPF_OPTS(bpf_obj_get_opts, ro, .file_flags = BPF_F_RDONLY);
  bool read_only = true;
  int fd = bpf_obj_get_opts(path.c_str(), &ro);
  if (fd < 0 && (errno == EINVAL || errno == EACCES || errno == EPERM)) {
    // Kernels or maps that refuse a read-only open (e.g. frozen-map rules):
    // fall back to the plain open.
    read_only = false;
    fd = bpf_obj_get(path.c_str());
  }
  if (fd < 0) return Error::fromErrno(errno, "open pinned map " + path);
  auto m = fromFd(UniqueFd(fd), path);
  if (m) m->read_only_ = read_only;
  return m;
}

Result<Map> Map::openById(uint32_t id) {
  LIBBPF_OPTS(bpf_get_fd_by_id_opts, ro, .open_flags = BPF_F_RDONLY);
  bool read_only = true;
  int fd = bpf_map_get_fd_by_id_opts(id, &ro);
  if (fd < 0 && (errno == EINVAL || errno == EACCES || errno == EPERM)) {
    read_only = false;
    fd = bpf_map_get_fd_by_id(id);
  }
  if (fd < 0) return Error::fromErrno(errno, "open map id " + std::to_string(id));
  auto m = fromFd(UniqueFd(fd), "id " + std::to_string(id));
  if (m) m->read_only_ = read_only;
  return m;
}

Result<Map> Map::openByName(std::string_view name) {
  if (name.size() >= BPF_OBJ_NAME_LEN)
    return Error::msg("open map by name \"" + std::string(name) + "\": kernel map names are at most " +
                      std::to_string(BPF_OBJ_NAME_LEN - 1) + " characters");
  std::vector<uint32_t> matches;
  uint32_t id = 0;
  while (bpf_map_get_next_id(id, &id) == 0) {
    UniqueFd fd(bpf_map_get_fd_by_id(id));
    if (!fd.valid()) continue;  // went away, or not ours to see
    bpf_map_info raw{};
    uint32_t len = sizeof raw;
    if (bpf_obj_get_info_by_fd(fd.get(), &raw, &len) == 0 && name == raw.name) matches.push_back(id);
  }
  if (errno != ENOENT && errno != 0 && matches.empty())
    return Error::fromErrno(errno, "enumerate kernel maps");
  if (matches.empty()) return Error(ENOENT, "open map by name \"" + std::string(name) + "\": no such map");
  if (matches.size() > 1) {
    std::string ids;
    for (uint32_t m : matches) ids += (ids.empty() ? "" : ", ") + std::to_string(m);
    return Error(EEXIST, "open map by name \"" + std::string(name) + "\": " + std::to_string(matches.size()) +
                             " maps have that name (ids " + ids + "); open one by id or pin path");
  }
  auto m = openById(matches.front());
  if (m) m->label_ = std::string(name);
  return m;
}

Result<const struct btf*> Map::btf(const char* what) const {
  if (info_.btf_id == 0 && !btf_) return Error::msg("map " + label_ + ": has no BTF for its " + what);
  if (!btf_) {
    struct btf* b = btf__load_from_kernel_by_id(info_.btf_id);
    if (b == nullptr) return Error::fromErrno(errno, "load BTF id " + std::to_string(info_.btf_id) + " of map " + label_);
    btf_ = std::shared_ptr<struct btf>(b, btf__free);
  }
  return btf_.get();
}

Result<EnumValues> Map::enumByName(std::string_view name) const {
  auto b = btf("enums");
  if (!b) return std::move(b).error();
  auto e = bpf::enumByName(b.value(), name);
  if (!e) return std::move(e).error().context("map " + label_);
  return e;
}

Result<Layout> Map::layoutOf(uint32_t type_id, const char* what) const {
  if ((info_.btf_id == 0 && !btf_) || type_id == 0)
    return Error::msg("map " + label_ + ": has no BTF for its " + what + "; declare a layout");
  auto b = btf(what);
  if (!b) return std::move(b).error();
  auto l = Layout::fromBtf(b.value(), type_id, what);
  if (!l) return std::move(l).error().context("map " + label_ + " " + what);
  return l;
}

void Map::useBtf(const struct btf* btf, uint32_t key_type_id, uint32_t value_type_id) {
  if (btf == nullptr) return;
  btf_ = std::shared_ptr<struct btf>(const_cast<struct btf*>(btf), [](struct btf*) {});  // not ours to free
  info_.btf_key_type_id = key_type_id;
  info_.btf_value_type_id = value_type_id;
}

Result<Layout> Map::keyLayout() const { return layoutOf(info_.btf_key_type_id, "key"); }
Result<Layout> Map::valueLayout() const { return layoutOf(info_.btf_value_type_id, "value"); }

}  // namespace bpfex::bpf
