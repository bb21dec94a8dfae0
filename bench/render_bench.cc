// Micro-benchmarks of the collection path's registry side: updating N series by
// label values, rendering them (text 0.0.4, OpenMetrics, protobuf), and compressing.
// Reported per series (items_per_second inverted in BENCHMARKS.md).
#include <benchmark/benchmark.h>

#include <memory>
#include <string_view>

#include "bench/series_shape.h"
#include "metrics/exposition.h"
#include "metrics/registry.h"
#include "metrics/snapshot.h"

namespace {

using namespace bpfex;

struct Fixture {
  metrics::Registry registry{{.max_series = 5'000'000, .max_series_per_family = 5'000'000}};
  metrics::Family* family = nullptr;
  explicit Fixture(int64_t n) {
    family = registry
                 .family({.name = bench::kFamily, .help = bench::kHelp, .type = metrics::MetricType::kCounter,
                          .label_names = {"namespace", "pod", "proto"}})
                 .value();
    for (int64_t i = 0; i < n; ++i) {
      const auto l = bench::labelsFor(static_cast<uint64_t>(i));
      (void)family->set({l.ns, l.pod, l.proto}, bench::valueFor(static_cast<uint64_t>(i)));
    }
  }
};

Fixture& fixture(int64_t n) {
  static std::unique_ptr<Fixture> f;
  static int64_t have = -1;
  if (have != n) {
    f.reset();
    f = std::make_unique<Fixture>(n);
    have = n;
  }
  return *f;
}

void renderLoop(benchmark::State& state, metrics::Format format) {
  Fixture& f = fixture(state.range(0));
  metrics::Buffer out;
  for (auto _ : state) {
    out.clear();
    metrics::renderRegistry(f.registry, format, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}

void BM_RenderText(benchmark::State& state) { renderLoop(state, metrics::Format::kText004); }
void BM_RenderOpenMetrics(benchmark::State& state) { renderLoop(state, metrics::Format::kOpenMetrics); }
// The protobuf exposition (what Prometheus with native histograms asks for).
void BM_RenderProtobuf(benchmark::State& state) { renderLoop(state, metrics::Format::kProtobuf); }

// A tick's writes: every series set by its label values (lookup, no insert).
void BM_UpdateByLabels(benchmark::State& state) {
  Fixture& f = fixture(state.range(0));
  const int64_t n = state.range(0);
  uint64_t tick = 1;
  for (auto _ : state) {
    for (int64_t i = 0; i < n; ++i) {
      const auto l = bench::labelsFor(static_cast<uint64_t>(i));
      (void)f.family->set({l.ns, l.pod, l.proto}, bench::valueFor(static_cast<uint64_t>(i), tick));
    }
    ++tick;
  }
  state.SetItemsProcessed(state.iterations() * n);
}

// The whole per-tick publish: render text, gzip it (level 1), swap.
void BM_SnapshotTextGzip1(benchmark::State& state) {
  Fixture& f = fixture(state.range(0));
  metrics::VariantSet w{};
  w[0] = {true, true};
  std::shared_ptr<metrics::Snapshot> prev;
  for (auto _ : state) {
    auto s = metrics::renderSnapshot(f.registry, w, 1, prev.get());
    benchmark::DoNotOptimize(s.get());
    prev = std::move(s);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

BENCHMARK(BM_RenderText)->Arg(1000)->Arg(10000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RenderOpenMetrics)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RenderProtobuf)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_UpdateByLabels)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SnapshotTextGzip1)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
