// What range() costs: recording the tick-resolution history of an N-series
// family after each tick, and evaluating rate() over all N series' 5 m range
// (61 samples each at 5 s ticks), against rendering the same family as text
// (the tick's floor for N series).
//   history_bench N [N ...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "lua/range_functions.h"
#include "lua/series_history.h"
#include "metrics/registry.h"

using namespace bpfex;

namespace {
double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::stoul(argv[i]));
  if (sizes.empty()) sizes = {10000, 100000};
  std::printf("| series | record ms/tick | ns/series | rate() over 5m, all series, ms | ns/series | render text ms |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|\n");
  for (size_t n : sizes) {
    metrics::Registry reg({.max_series = n + 10, .max_series_per_family = n + 10});
    auto* f = reg.family({.name = "h_total", .help = "x", .type = metrics::MetricType::kCounter,
                          .label_names = {"flow", "proto"}}).value();
    lua::SeriesHistory h({.max_series = n + 10, .max_samples = n * 70});
    h.setWatched({{"h_total", 300'000}});
    std::vector<std::string> flows(n / 4 + 1);
    for (size_t i = 0; i < flows.size(); ++i) flows[i] = std::to_string(i);
    const char* protos[] = {"tcp", "udp", "icmp", "other"};
    std::vector<double> rec, eval, render;
    for (int tick = 0; tick < 80; ++tick) {
      for (size_t i = 0; i < n; ++i) (void)f->set({flows[i / 4], protos[i % 4]}, static_cast<double>(tick * (i + 1)));
      reg.sweep();
      auto t0 = std::chrono::steady_clock::now();
      h.record(reg, tick * 5000);
      if (tick >= 62) rec.push_back(since(t0));  // the 5 m range is full
      if (tick >= 62 && tick % 4 == 0) {
        t0 = std::chrono::steady_clock::now();
        double sink = 0;
        h.select(reg, "h_total", tick * 5000, 300'000,
                 [&](std::string_view, std::string_view, std::string_view, std::span<const lua::Point> p) {
                   sink += lua::evalRange(lua::RangeFn::kRate, p, tick * 5000, 300'000).value_or(0);
                 });
        eval.push_back(since(t0));
        if (sink < 0) std::puts("");
        metrics::Buffer b;
        t0 = std::chrono::steady_clock::now();
        f->render(metrics::Format::kText004, b);
        render.push_back(since(t0));
      }
    }
    const double r = median(rec), e = median(eval);
    std::printf("| %zu | %.2f | %.0f | %.2f | %.0f | %.2f |\n", n, r, r * 1e6 / static_cast<double>(n), e,
                e * 1e6 / static_cast<double>(n), median(render));
    std::fflush(stdout);
  }
  return 0;
}
