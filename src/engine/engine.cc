#include "engine/engine.h"

#include <chrono>

#include "base/clock.h"
#include "base/log.h"
#include "metrics/reserved.h"

namespace bpfex::engine {

using metrics::FamilyOptions;
using metrics::MetricType;


Engine::Engine(metrics::Registry& registry, metrics::Publisher& publisher, EngineOptions opts)
    : registry_(registry), publisher_(publisher), opts_(opts) {
  tick_duration_ = metrics::selfFamily(registry_, {.name = "bpfex_tick_duration_seconds",
                                            .help = "Time one collection tick took: collectors, sweep, render and publish.",
                                            .unit = "seconds",
                                            .type = MetricType::kHistogram,
                                            .buckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}});
  render_duration_ = metrics::selfFamily(registry_, {.name = "bpfex_render_duration_seconds",
                                              .help = "Time the last tick took to render and compress the exposition.",
                                              .unit = "seconds",
                                              .type = MetricType::kGauge});
  collector_errors_ = metrics::selfFamily(registry_, {.name = "bpfex_collector_errors_total",
                                               .help = "Collector runs that returned an error.",
                                               .type = MetricType::kCounter,
                                               .label_names = {"collector"}});
  collector_duration_ = metrics::selfFamily(registry_, {.name = "bpfex_collector_duration_seconds",
                                                 .help = "Time the collector took in the last tick.",
                                                 .unit = "seconds",
                                                 .type = MetricType::kGauge,
                                                 .label_names = {"collector"}});
  exposition_bytes_ = metrics::selfFamily(registry_, {.name = "bpfex_exposition_bytes",
                                               .help = "Size of the last rendered exposition, by format and encoding.",
                                               .unit = "bytes",
                                               .type = MetricType::kGauge,
                                               .label_names = {"format", "encoding"},
                                               .expire_unwritten = true});
  family_series_ = metrics::selfFamily(registry_, {.name = "bpfex_registry_family_series",
                                            .help = "Series in each metric family at the last tick.",
                                            .type = MetricType::kGauge,
                                            .label_names = {"family"},
                                            .expire_unwritten = true});
  series_total_ = metrics::selfFamily(registry_, {.name = "bpfex_registry_series",
                                           .help = "Series in the registry at the last tick, as Prometheus counts them (a histogram's every bucket, _sum and _count each one).",
                                           .type = MetricType::kGauge});
  series_limit_ = metrics::selfFamily(registry_, {.name = "bpfex_registry_series_limit",
                                           .help = "Most series the registry accepts in total.",
                                           .type = MetricType::kGauge});
  series_dropped_ = metrics::selfFamily(registry_, {.name = "bpfex_series_dropped_total",
                                             .help = "New series refused because a family or the registry was at its series limit.",
                                             .type = MetricType::kCounter,
                                             .label_names = {"family"}});
  phase_seconds_ = metrics::selfFamily(registry_, {.name = "bpfex_tick_phase_seconds",
                                            .help = "Wall time each phase of the last complete tick took (read, rules, collect, sweep, render, compress).",
                                            .unit = "seconds",
                                            .type = MetricType::kGauge,
                                            .label_names = {"phase"}});
  phase_cpu_ = metrics::selfFamily(registry_, {.name = "bpfex_tick_phase_cpu_seconds_total",
                                        .help = "Engine-thread CPU time spent in each tick phase, late renders included.",
                                        .unit = "seconds",
                                        .type = MetricType::kCounter,
                                        .label_names = {"phase"}});
  ticks_total_ = metrics::selfFamily(registry_, {.name = "bpfex_ticks_total",
                                          .help = "Collection ticks completed.",
                                          .type = MetricType::kCounter});
}

void Engine::addCollector(std::string name, Collector c, Phase phase) {
  collectors_.push_back({std::move(name), std::move(c), phase});
}

void Engine::post(std::function<void()> fn) {
  {
    std::lock_guard lock(post_mu_);
    posted_.push_back(std::move(fn));
  }
  post_cv_.notify_all();
}

void Engine::runPosted() {
  std::vector<std::function<void()>> fns;
  {
    std::lock_guard lock(post_mu_);
    fns.swap(posted_);
  }
  for (auto& fn : fns) fn();
}

void Engine::updateSelfMetrics() {
  (void)render_duration_->set({}, last_render_seconds_);
  if (ticks_ > 0) (void)tick_duration_->observe({}, last_tick_seconds_);
  (void)ticks_total_->set({}, static_cast<double>(ticks_));
  for (size_t p = 0; p < kPhaseCount; ++p) {
    if (ticks_ > 0) (void)phase_seconds_->set({kPhaseNames[p]}, last_phases_[p].first);
    (void)phase_cpu_->set({kPhaseNames[p]}, phase_cpu_total_[p]);
  }
  for (const auto& f : registry_.families()) {
    (void)family_series_->set({f->name()}, static_cast<double>(f->size()));
    if (f->dropped() > 0) (void)series_dropped_->set({f->name()}, static_cast<double>(f->dropped()));
  }
  (void)series_total_->set({}, static_cast<double>(registry_.seriesCount()));
  (void)series_limit_->set({}, static_cast<double>(registry_.limits().max_series));
  if (last_) {
    static constexpr std::string_view kFormatNames[] = {"text-0.0.4", "openmetrics-1.0.0", "protobuf-delimited"};
    static_assert(std::size(kFormatNames) == metrics::kFormatCount);
    for (size_t f = 0; f < metrics::kFormatCount; ++f)
      for (int gz = 0; gz < 2; ++gz)
        if (const auto* b = last_->body(static_cast<metrics::Format>(f), gz == 1))
          (void)exposition_bytes_->set({kFormatNames[f], gz ? "gzip" : "identity"},
                                       static_cast<double>(b->size()));
  }
}

void Engine::tick() {
  const base::Stopwatch whole;
  std::array<std::pair<double, double>, kPhaseCount> ph{};
  auto charge = [&ph](Phase p, double wall, double cpu) {
    ph[static_cast<size_t>(p)].first += wall;
    ph[static_cast<size_t>(p)].second += cpu;
  };
  const auto reads = [this] { return read_clock_ ? read_clock_() : std::pair<double, double>{0, 0}; };
  for (const auto& c : collectors_) {
    const auto r0 = reads();
    const base::Stopwatch sw;
    base::Status st;
    try {
      st = c.fn(registry_);
    } catch (const std::exception& e) {
      st = base::Error::msg(std::string("exception: ") + e.what());
    }
    const double wall = sw.wall(), cpu = sw.cpu();
    const auto r1 = reads();
    charge(Phase::kRead, r1.first - r0.first, r1.second - r0.second);
    charge(c.phase, wall - (r1.first - r0.first), cpu - (r1.second - r0.second));
    (void)collector_duration_->set({c.name}, wall);
    if (!st) {
      BPFEX_LOG_WARN("collector {}: {}", c.name, st.error().message());
      (void)collector_errors_->add({c.name}, 1);
    } else {
      (void)collector_errors_->add({c.name}, 0);
    }
  }
  {
    const base::Stopwatch sw;
    updateSelfMetrics();
    registry_.sweep();
    for (const auto& fn : observers_) fn(registry_);
    charge(Phase::kSweep, sw.wall(), sw.cpu());
  }

  metrics::RenderCost cost;
  auto snap = metrics::renderSnapshot(registry_, publisher_.wanted(base::monotonicNanos()),
                                      opts_.gzip_level, last_.get(), nullptr, &cost);
  if (render_native_) {
    const base::Stopwatch sw;
    auto native = std::make_shared<metrics::Buffer>();
    for (const auto& f : registry_.families())
      if (f->type() == metrics::MetricType::kHistogram && f->options().histogram != metrics::HistogramKind::kClassic)
        f->renderProtobuf(*native);
    snap->native_histograms = std::move(native);
    cost.render_wall += sw.wall();
    cost.render_cpu += sw.cpu();
  }
  charge(Phase::kRender, cost.render_wall, cost.render_cpu);
  charge(Phase::kCompress, cost.compress_wall, cost.compress_cpu);
  snap->tick = ++ticks_;
  snap->unix_time = base::unixSeconds();
  snap->stats.seconds = whole.wall();
  for (size_t p = 0; p < kPhaseCount; ++p) {
    snap->stats.phases.push_back({kPhaseNames[p], ph[p]});
    phase_cpu_total_[p] += ph[p].second;
  }
  last_phases_ = ph;
  last_ = snap;
  for (const auto& fn : tick_listeners_) fn(*snap);
  publisher_.publish(std::move(snap));
  last_render_seconds_ = cost.render_wall + cost.compress_wall;
  last_tick_seconds_ = whole.wall();
}

void Engine::renderMissing() {
  if (!last_) return;
  const metrics::VariantSet wanted = publisher_.wanted(base::monotonicNanos());
  if (last_->has(wanted)) return;  // an earlier request (or a tick) rendered it
  const double r0 = base::monotonicSeconds();
  metrics::RenderCost cost;
  auto snap = metrics::renderSnapshot(registry_, wanted, opts_.gzip_level, last_.get(), last_.get(), &cost);
  phase_cpu_total_[static_cast<size_t>(Phase::kRender)] += cost.render_cpu;
  phase_cpu_total_[static_cast<size_t>(Phase::kCompress)] += cost.compress_cpu;
  last_ = snap;
  publisher_.publish(std::move(snap));
  BPFEX_LOG_DEBUG("rendered a late exposition variant in {:.3f} s", base::monotonicSeconds() - r0);
}

void Engine::run(std::stop_token stop) {
  // A scrape of a variant the snapshot lacks gets it rendered here, between
  // ticks, from the registry as the last tick left it.
  publisher_.setMissingHandler([this] { post([this] { renderMissing(); }); });
  struct Clear {
    metrics::Publisher& p;
    ~Clear() { p.setMissingHandler(nullptr); }
  } clear{publisher_};
  const auto interval = std::chrono::duration<double>(opts_.tick_interval_seconds);
  auto next = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    runPosted();
    tick();
    next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
    const auto now = std::chrono::steady_clock::now();
    if (next < now) {
      // Fell behind (a tick longer than the interval, or the process was
      // stopped): the missed ticks are skipped, not run in a burst, and the
      // next tick comes a whole interval from now, so an overloaded engine
      // still rests between ticks (and SIGTERM finds it idle).
      const auto step = std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
      const auto missed = (now - next) / step + 1;
      BPFEX_LOG_WARN("fell {} tick(s) of {} s behind (a long tick, or the process was stopped); skipped them",
                     static_cast<long long>(missed), opts_.tick_interval_seconds);
      next = now + step;
    }
    std::unique_lock lock(post_mu_);
    // Woken early by post(): run the posted work, and keep the tick schedule.
    while (!stop.stop_requested() && std::chrono::steady_clock::now() < next) {
      if (post_cv_.wait_until(lock, stop, next, [this] { return !posted_.empty(); })) {
        lock.unlock();
        runPosted();
        lock.lock();
      }
    }
  }
}

}  // namespace bpfex::engine
