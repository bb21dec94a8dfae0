// RecordedData: map contents given per tick instead of read from the kernel,
// for `bpfex test` and golden tests. Layouts come from declarations (there is
// no BTF offline), with enum names given per field.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "lua/rule.h"

struct bpf_object;

namespace bpfex::engine {

class RecordedData : public lua::DataSource {
 public:
  using Value = std::variant<double, std::string>;
  using Fields = std::map<std::string, Value>;  // "name" or "name[i]" -> value

  // enums: field name -> (value -> enumerator name).
  base::Status addMap(const std::string& name, const std::string& key_decl, const std::string& value_decl,
                      uint32_t max_entries,
                      const std::map<std::string, std::map<int64_t, std::string>>& enums = {});
  // Replaces the map's entries. Errors name the map and field.
  base::Status setEntries(const std::string& name, const std::vector<std::pair<Fields, Fields>>& entries);

  // A map of the useBundledBtf object, its layouts from that BTF (as the
  // daemon reads them): "vpn/stats_map" is the object's stats_map.
  // max_entries 0: the object's.
  base::Status addMapFromBtf(const std::string& name, uint32_t max_entries);
  // The BTF enums come from (bpf.enum): a bundled object's, as the daemon
  // would read them from that object's maps.
  base::Status useBundledBtf(const std::string& object);
  base::Result<bpf::EnumValues> enumByName(const std::string& map, const std::string& enum_name) override;

  base::Result<lua::MapView> mapView(const std::string& name) override;
  base::Result<const bpf::EventReader*> events(const std::string& name) override;

 private:
  struct Map {
    bpf::Layout kl, vl;
    bpf::MapInfo info;
    std::vector<uint8_t> keys, values;
    size_t count = 0;
  };
  static base::Status write(const bpf::Layout& l, uint8_t* base, const Fields& vals, const std::string& what);
  std::map<std::string, Map> maps_;
  std::shared_ptr<struct bpf_object> btf_object_;
};

}  // namespace bpfex::engine
