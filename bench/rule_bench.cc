// Issue #4's target: a rule deriving one value per entry of an N-entry map and
// publishing N series, per tick: map view -> decoded fields -> derived value
// -> registry -> rendered text. The map contents come from RecordedData (the
// kernel read is benchmarked separately in map_read_bench). Then issue #16's
// declarative fast path: the same map re-exported by bpf.export, against the
// Lua loop that does the same (one value field, labelled by the key fields).
//   rule_bench N [N ...]
#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/recorded_data.h"
#include "engine/rule_engine.h"
#include "metrics/snapshot.h"

using namespace bpfex;

int main(int argc, char** argv) {
  std::vector<size_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::stoul(argv[i]));
  if (sizes.empty()) sizes = {100000, 1000000};
  const auto dir = std::filesystem::temp_directory_path() / "bpfex-rule-bench";
  std::filesystem::create_directories(dir);
  struct Variant {
    const char* what;
    const char* src;
  };
  const Variant variants[] = {
      {"Lua: a derived value", R"(
local g = metric.gauge("bench_bytes_per_packet", "Bytes per packet", {"ifindex", "proto"})
local flows = bpf.map("b/flows")
on_tick(function()
  for k, v in flows:entries() do
    g:set({k.ifindex, k.proto}, v.bytes / v.packets)
  end
end)
)"},
      {"Lua: a re-export", R"(
local g = metric.gauge("bench_bytes_per_packet", "Bytes", {"ifindex", "proto"})
local flows = bpf.map("b/flows")
on_tick(function()
  for k, v in flows:entries() do g:set({k.ifindex, k.proto}, v.bytes) end
end)
)"},
      {"bpf.export: the same re-export", R"(
bpf.export(bpf.map("b/flows"), metric.gauge("bench_bytes_per_packet", "Bytes", {"ifindex", "proto"}), "bytes")
)"}};
  std::printf("| rule | entries | rule run ms | ns/entry | tick (rule + sweep + render text) ms | ns/series | rendered MB |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (const Variant& var : variants)
  for (size_t n : sizes) {
    const std::string rule = (dir / "rule.lua").string();
    std::ofstream(rule) << var.src;
    engine::RecordedData data;
    (void)data.addMap("b/flows", "u32 ifindex; u32 proto", "u64 packets; u64 bytes", static_cast<uint32_t>(n));
    std::vector<std::pair<engine::RecordedData::Fields, engine::RecordedData::Fields>> rows;
    rows.reserve(n);
    for (size_t i = 0; i < n; ++i)
      rows.push_back({{{"ifindex", static_cast<double>(i / 8)}, {"proto", static_cast<double>(i % 8)}},
                      {{"packets", static_cast<double>(i + 1)}, {"bytes", static_cast<double>((i + 1) * 100)}}});
    (void)data.setEntries("b/flows", rows);
    metrics::Registry registry({.max_series = n + 1000, .max_series_per_family = n + 1000});
    metrics::Publisher publisher;
    engine::Engine eng(registry, publisher, {});
    engine::RuleEngine re(registry, &data, {.time_budget_seconds = 60, .memory_bytes = 1u << 30});
    eng.addCollector("rules", re.collector(eng), engine::Phase::kRules);
    if (auto st = re.reload({rule}); !st) {
      std::fprintf(stderr, "%s\n", st.error().message().c_str());
      return 1;
    }
    eng.tick();  // creates the series
    std::vector<double> ticks, runs;
    const int reps = std::getenv("BENCH_TICKS") ? std::atoi(std::getenv("BENCH_TICKS")) : 7;
    for (int i = 0; i < reps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      eng.tick();
      ticks.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      runs.push_back(registry.find("bpfex_rule_duration_seconds")->value({rule}).value_or(0) * 1e3);
    }
    std::sort(ticks.begin(), ticks.end());
    std::sort(runs.begin(), runs.end());
    const double tick = ticks[ticks.size() / 2], run = runs[runs.size() / 2];
    const auto* body = publisher.current()->body(metrics::Format::kText004, false);
    if (registry.find("bench_bytes_per_packet")->size() != n) {
      std::fprintf(stderr, "expected %zu series, have %zu\n", n, registry.find("bench_bytes_per_packet")->size());
      return 1;
    }
    std::printf("| %s | %zu | %.1f | %.0f | %.1f | %.0f | %.1f |\n", var.what, n, run, run * 1e6 / static_cast<double>(n), tick,
                tick * 1e6 / static_cast<double>(n), static_cast<double>(body->size()) / 1e6);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
