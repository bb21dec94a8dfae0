#include "engine/bpf_data_source.h"

#include <cerrno>

#include "base/clock.h"
#include "base/log.h"
#include "bpf/object.h"

namespace bpfex::engine {

using base::Error;
using base::Result;

lua::MapView BpfDataSource::unavailable(const std::string& name, std::string why) {
  auto [it, first] = unavailable_.try_emplace(name, 0);
  if (it->second != tick_) {
    it->second = tick_;
    rt_.countError("read_map", name);
  }
  if (first) BPFEX_LOG_WARN("bpf map {}: {}; what rules compute from it stops until it is back", name, why);
  lua::MapView v;
  static const bpf::Layout kNoLayout;
  static const bpf::MapInfo kNoInfo;
  v.key_layout = v.value_layout = &kNoLayout;
  v.info = &kNoInfo;
  v.unavailable = std::move(why);
  return v;
}

void BpfDataSource::available(const std::string& name) {
  if (unavailable_.erase(name) != 0) BPFEX_LOG_INFO("bpf map {}: available again", name);
}

Result<lua::MapView> BpfDataSource::mapView(const std::string& name) {
  BpfRuntime::MapEntry* e = rt_.findMap(name);
  if (e == nullptr) {
    // A map of a configured object that did not load is there in principle;
    // a name nothing configures is the rule's mistake.
    const std::string object = name.substr(0, name.find('/'));
    if (name.find('/') != std::string::npos && rt_.objectConfigured(object))
      return unavailable(name, "its object " + object + " is not loaded");
    return Error(ENOENT, "bpf map \"" + name + "\" is not configured (bpf.objects or bpf.maps)");
  }
  auto rd = rt_.read(*e, tick_);
  if (!rd) return unavailable(name, rd.error().message());
  available(name);
  auto kl = rt_.keyLayout(*e);
  if (!kl) return std::move(kl).error();
  auto vl = rt_.valueLayout(*e);
  if (!vl) return std::move(vl).error();
  const bpf::MapReader* r = rd.value();
  lua::MapView v;
  v.keys = r->keys();
  v.count = r->count();
  v.key_size = r->keySize();
  v.key_layout = kl.value();
  v.value_layout = vl.value();
  v.info = &e->map->info();
  if (e->map->perCpu()) {
    // Rules see one value per entry: the per-CPU copies summed, once per
    // tick, integers widened to 64 bits (bpf::PerCpuSum).
    Summed& s = summed_[name];
    if (s.from != vl.value()) {
      s.plan = std::make_unique<bpf::PerCpuSum>(*vl.value());
      s.from = vl.value();
      s.tick = 0;
    }
    const uint32_t vsize = s.plan->layout().size();
    if (s.tick != tick_ || s.values.size() < r->count() * vsize) {
      const base::Stopwatch sw;
      if (s.values.size() < r->count() * vsize) s.values.resize(r->count() * vsize);
      for (size_t i = 0; i < r->count(); ++i) s.plan->sum(*r, i, s.values.data() + i * vsize);
      s.tick = tick_;
      rt_.addReadTime(sw.wall(), sw.cpu());
    }
    v.value_layout = &s.plan->layout();
    v.values = s.values.data();
    v.value_size = vsize;
  } else {
    v.values = r->values();
    v.value_size = r->valueStride();
  }
  return v;
}

Result<const bpf::EventReader*> BpfDataSource::events(const std::string& name) {
  BpfRuntime::MapEntry* e = rt_.findMap(name);
  if (e == nullptr) return Error(ENOENT, "bpf event map \"" + name + "\" is not configured");
  return rt_.events(*e, tick_);
}

Result<bpf::EnumValues> BpfDataSource::enumByName(const std::string& map, const std::string& enum_name) {
  BpfRuntime::MapEntry* e = rt_.findMap(map);
  // Not there now (see mapView): no enumerators, so nothing is computed.
  if (e == nullptr && map.find('/') != std::string::npos && rt_.objectConfigured(map.substr(0, map.find('/'))))
    return bpf::EnumValues{};
  if (e == nullptr) return Error(ENOENT, "bpf map \"" + map + "\" is not configured (bpf.objects or bpf.maps)");
  if (e->map == nullptr || !e->ok) return bpf::EnumValues{};
  return e->map->enumByName(enum_name);
}

std::vector<lua::ProgramView> BpfDataSource::programs() {
  std::vector<lua::ProgramView> out;
  const bool counting = rt_.statsActive() || bpf::globalBpfStatsEnabled();
  for (const auto& op : rt_.programs(tick_)) {  // errors are counted by the runtime's collector
    const auto att = op.object->attached();
    for (const auto& p : op.stats) {
      lua::ProgramView v{.object = op.object->spec().name, .name = p.name, .type = p.type, .id = p.id, .stats = counting,
                         .run_count = p.run_count, .run_time_ns = p.run_time_ns, .attached = {}};
      for (const auto& a : att)
        if (a.program == p.name) v.attached.push_back({std::string(bpf::attachTypeName(a.type)), a.target, a.netns});
      out.push_back(std::move(v));
    }
  }
  return out;
}

}  // namespace bpfex::engine
