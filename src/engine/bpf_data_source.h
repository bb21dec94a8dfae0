// BpfDataSource: what rules read (lua::DataSource), over the BPF runtime:
// each map read at most once per tick however many rules ask, per-CPU values
// summed once per tick (bpf::PerCpuSum), events and program statistics.
//
// Thread safety: engine thread only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/bpf_runtime.h"
#include "lua/rule.h"

namespace bpfex::engine {

class BpfDataSource : public lua::DataSource {
 public:
  explicit BpfDataSource(BpfRuntime& rt) : rt_(rt) {}
  void beginTick(uint64_t tick) override { tick_ = tick; }
  base::Result<lua::MapView> mapView(const std::string& name) override;
  base::Result<const bpf::EventReader*> events(const std::string& name) override;
  std::vector<lua::ProgramView> programs() override;
  base::Result<bpf::EnumValues> enumByName(const std::string& map, const std::string& enum_name) override;

 private:
  struct Summed {
    uint64_t tick = 0;
    const bpf::Layout* from = nullptr;  // the layout `plan` was made for
    std::unique_ptr<bpf::PerCpuSum> plan;
    std::vector<uint8_t> values;
  };
  // An empty view of a configured map that is not there now, counted once
  // a tick in bpfex_bpf_errors_total{operation="read_map"} and logged when
  // it goes and when it comes back.
  lua::MapView unavailable(const std::string& name, std::string why);
  void available(const std::string& name);

  BpfRuntime& rt_;
  uint64_t tick_ = 0;
  std::map<std::string, Summed> summed_;
  std::map<std::string, uint64_t> unavailable_;  // map -> the tick it was last counted
};

}  // namespace bpfex::engine
