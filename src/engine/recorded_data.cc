#include "engine/recorded_data.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "bpf/bundled.h"

namespace bpfex::engine {

base::Status RecordedData::useBundledBtf(const std::string& object) {
  auto img = bpf::bundledElf(object);
  if (!img) return std::move(img).error();
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = object.c_str());
  struct bpf_object* obj = bpf_object__open_mem(img->data, img->size, &opts);
  if (obj == nullptr) return base::Error::fromErrno(errno, "open bundled object " + object);
  btf_object_ = std::shared_ptr<struct bpf_object>(obj, bpf_object__close);
  return base::okStatus();
}

base::Result<bpf::EnumValues> RecordedData::enumByName(const std::string& map, const std::string& enum_name) {
  if (maps_.find(map) == maps_.end()) return base::Error(ENOENT, "bpf map \"" + map + "\" is not recorded");
  const struct btf* btf = btf_object_ ? bpf_object__btf(btf_object_.get()) : nullptr;
  if (btf == nullptr)
    return base::Error(ENOENT, "bpf map " + map + ": no BTF to read enum " + enum_name + " from (the test's btf:)");
  return bpf::enumByName(btf, enum_name);
}

using base::Error;
using base::Status;

Status RecordedData::addMap(const std::string& name, const std::string& kdecl, const std::string& vdecl,
                            uint32_t max_entries, const std::map<std::string, std::map<int64_t, std::string>>& enums) {
  auto kl = bpf::Layout::fromDeclaration(kdecl);
  if (!kl) return std::move(kl).error().context("map " + name + " key");
  auto vl = bpf::Layout::fromDeclaration(vdecl);
  if (!vl) return std::move(vl).error().context("map " + name + " value");
  auto withEnums = [&](const bpf::Layout& l) {
    std::vector<bpf::Field> fields = l.fields();
    for (auto& f : fields) {
      auto it = enums.find(f.name);
      if (it == enums.end()) continue;
      auto ev = std::make_shared<bpf::EnumValues>();
      for (const auto& [v, n] : it->second) {
        ev->values.emplace_back(v, n);
        ev->is_signed = ev->is_signed || v < 0;
      }
      f.kind = bpf::FieldKind::kEnum;
      f.enums = std::move(ev);
    }
    return bpf::Layout(std::move(fields), l.size());
  };
  Map m;
  m.kl = withEnums(kl.value());
  m.vl = withEnums(vl.value());
  m.info.name = name;
  m.info.type = 1;  // BPF_MAP_TYPE_HASH
  m.info.key_size = m.kl.size();
  m.info.value_size = m.vl.size();
  m.info.max_entries = max_entries;
  maps_[name] = std::move(m);
  return base::okStatus();
}

Status RecordedData::addMapFromBtf(const std::string& name, uint32_t max_entries) {
  if (!btf_object_) return Error::msg("map " + name + ": no key and value declared, and no btf: to take them from");
  const std::string kname = name.substr(name.rfind('/') + 1);  // "vpn/stats_map": the object's stats_map
  const struct bpf_map* bm = bpf_object__find_map_by_name(btf_object_.get(), kname.c_str());
  if (bm == nullptr) return Error::msg("map " + name + ": the btf: object has no map " + kname);
  const struct btf* btf = bpf_object__btf(btf_object_.get());
  auto kl = bpf::Layout::fromBtf(btf, bpf_map__btf_key_type_id(bm), "key");
  if (!kl) return std::move(kl).error().context("map " + name + " key");
  auto vl = bpf::Layout::fromBtf(btf, bpf_map__btf_value_type_id(bm), "value");
  if (!vl) return std::move(vl).error().context("map " + name + " value");
  Map m;
  m.kl = std::move(kl).value();
  m.vl = std::move(vl).value();
  m.info.name = name;
  m.info.type = static_cast<uint32_t>(bpf_map__type(bm));
  m.info.key_size = m.kl.size();
  m.info.value_size = m.vl.size();
  m.info.max_entries = max_entries != 0 ? max_entries : bpf_map__max_entries(bm);
  maps_[name] = std::move(m);
  return base::okStatus();
}

Status RecordedData::write(const bpf::Layout& l, uint8_t* base, const Fields& vals, const std::string& what) {
  for (const auto& [name, v] : vals) {
    std::string field = name;
    uint32_t idx = 0;
    if (const size_t lb = name.find('['); lb != std::string::npos) {
      field = name.substr(0, lb);
      idx = static_cast<uint32_t>(std::strtoul(name.c_str() + lb + 1, nullptr, 10));
    }
    const bpf::Field* f = l.find(field);
    if (f == nullptr) return Error::msg(what + ": no field " + field);
    if (idx >= f->count) return Error::msg(what + ": " + name + " is beyond the array");
    if (const auto* s = std::get_if<std::string>(&v)) {
      if (f->kind == bpf::FieldKind::kEnum) {
        bool found = false;
        for (const auto& [ev, en] : f->enums->values)
          if (en == *s) {
            std::memcpy(base + f->offset, &ev, f->size);
            found = true;
          }
        if (!found) return Error::msg(what + ": " + name + ": no enumerator " + *s);
      } else if (f->kind == bpf::FieldKind::kString) {
        std::strncpy(reinterpret_cast<char*>(base + f->offset), s->c_str(), f->size);
      } else if (bpf::isIntegerKind(f->kind)) {
        auto u = bpf::encodeValue(*f, *s);  // exact for every 64-bit value
        if (!u) return Error::msg(what + ": " + u.error().message());
        bpf::writeUnsigned(*f, base, u.value(), idx);
      } else {
        return Error::msg(what + ": " + name + " is a number, not \"" + *s + "\"");
      }
      continue;
    }
    const double d = std::get<double>(v);
    if (f->kind == bpf::FieldKind::kFloat) {
      if (f->size == 4) {
        const auto x = static_cast<float>(d);
        std::memcpy(base + f->offset + idx * 4, &x, 4);
      } else {
        std::memcpy(base + f->offset + idx * 8, &d, 8);
      }
    } else {
      if (!(d > -9223372036854775808.1 && d < 18446744073709551616.0))
        return Error::msg(what + ": " + name + ": " + std::to_string(d) + " does not fit in 64 bits");
      const uint64_t u = d < 0 ? static_cast<uint64_t>(static_cast<int64_t>(d)) : static_cast<uint64_t>(d);
      std::memcpy(base + f->offset + idx * f->size, &u, f->size);  // little-endian
    }
  }
  return base::okStatus();
}

Status RecordedData::setEntries(const std::string& name, const std::vector<std::pair<Fields, Fields>>& entries) {
  auto it = maps_.find(name);
  if (it == maps_.end()) return Error::msg("map " + name + " is not declared");
  Map& m = it->second;
  m.count = entries.size();
  m.keys.assign(entries.size() * m.kl.size(), 0);
  m.values.assign(entries.size() * m.vl.size(), 0);
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string what = "map " + name + " entry " + std::to_string(i + 1);
    if (auto st = write(m.kl, m.keys.data() + i * m.kl.size(), entries[i].first, what + " key"); !st) return st;
    if (auto st = write(m.vl, m.values.data() + i * m.vl.size(), entries[i].second, what + " value"); !st) return st;
  }
  return base::okStatus();
}

base::Result<lua::MapView> RecordedData::mapView(const std::string& name) {
  auto it = maps_.find(name);
  if (it == maps_.end()) return Error::msg("bpf map \"" + name + "\" is not in the test's maps");
  const Map& m = it->second;
  lua::MapView v;
  v.keys = m.keys.data();
  v.values = m.values.data();
  v.count = m.count;
  v.key_size = m.kl.size();
  v.value_size = m.vl.size();
  v.key_layout = &m.kl;
  v.value_layout = &m.vl;
  v.info = &m.info;
  return v;
}

base::Result<const bpf::EventReader*> RecordedData::events(const std::string& name) {
  return Error::msg("bpf events \"" + name + "\": recorded events are not supported by bpfex test yet");
}

}  // namespace bpfex::engine
