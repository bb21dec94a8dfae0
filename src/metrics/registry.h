// Registry: the set of metric families the engine publishes. Owns Families;
// enforces name rules, type clashes (including OpenMetrics suffix clashes) and
// series limits. Rendering happens once per tick on the engine thread
// (exposition.h); scrapes never touch a Registry.
//
// Thread safety: none; owned by the engine thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "metrics/family.h"

namespace bpfex::metrics {

struct RegistryLimits {
  size_t max_series = 2'000'000;            // all families together
  size_t max_series_per_family = 1'000'000;  // default for families that set none
};

class Registry {
 public:
  explicit Registry(RegistryLimits limits = {}) : limits_(limits) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Returns the family with this name, creating it. Asking again with the same
  // type, label names, buckets and quantiles returns the same family (HELP may
  // differ; the first wins). Anything else is an error naming the clash.
  base::Result<Family*> family(FamilyOptions opts);
  Family* find(std::string_view name) const;
  // Removes a family and its series (a rule that was unloaded).
  bool unregister(std::string_view name);

  // Ends a collection cycle: drops unwritten series of expiring families, then
  // starts a new generation.
  void sweep();

  const std::vector<std::unique_ptr<Family>>& families() const { return families_; }
  size_t seriesCount() const { return series_count_; }
  uint64_t droppedTotal() const;
  const RegistryLimits& limits() const { return limits_; }
  uint32_t generation() const { return generation_; }

 private:
  friend class Family;
  RegistryLimits limits_;
  std::vector<std::unique_ptr<Family>> families_;
  std::map<std::string, Family*, std::less<>> by_name_;
  // Every sample name and OpenMetrics family name a family uses, to refuse
  // families that would collide through suffixes (foo_total vs foo, foo_sum...).
  std::map<std::string, std::string, std::less<>> reserved_;
  size_t series_count_ = 0;
  uint32_t generation_ = 1;
};

}  // namespace bpfex::metrics
