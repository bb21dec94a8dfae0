#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "metrics/exposition.h"

namespace bpfex::metrics {
namespace {

Family* mk(Registry& r, FamilyOptions o) {
  auto f = r.family(std::move(o));
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message());
  return f.ok() ? f.value() : nullptr;
}

TEST(Registry, SameDefinitionReturnsSameFamily) {
  Registry r;
  Family* a = mk(r, {.name = "x_total", .help = "h", .type = MetricType::kCounter, .label_names = {"a"}});
  Family* b = mk(r, {.name = "x_total", .help = "other help", .type = MetricType::kCounter, .label_names = {"a"}});
  EXPECT_EQ(a, b);
}

TEST(Registry, TypeClashIsAnErrorNamingBoth) {
  Registry r;
  mk(r, {.name = "x", .type = MetricType::kGauge, .label_names = {"a"}});
  auto f = r.family({.name = "x", .type = MetricType::kGauge, .label_names = {"b"}});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message().find("already registered as a gauge with labels [a]"), std::string::npos)
      << f.error().message();
}

TEST(Registry, SuffixClashesAreRefused) {
  Registry r;
  mk(r, {.name = "foo_total", .type = MetricType::kCounter});
  EXPECT_FALSE(r.family({.name = "foo", .type = MetricType::kGauge}).ok());  // OpenMetrics family foo
  mk(r, {.name = "lat", .type = MetricType::kHistogram, .buckets = {1}});
  auto f = r.family({.name = "lat_count", .type = MetricType::kGauge});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message().find("clash with metric lat"), std::string::npos);
}

TEST(Registry, NamesLabelsAndShapesAreValidated) {
  Registry r;
  EXPECT_FALSE(r.family({.name = "bad-name"}).ok());
  EXPECT_FALSE(r.family({.name = "c", .type = MetricType::kCounter}).ok());  // no _total
  EXPECT_FALSE(r.family({.name = "g", .label_names = {"__x"}}).ok());
  EXPECT_FALSE(r.family({.name = "g", .label_names = {"a", "a"}}).ok());
  EXPECT_FALSE(r.family({.name = "h", .type = MetricType::kHistogram, .label_names = {"le"}, .buckets = {1}}).ok());
  EXPECT_FALSE(r.family({.name = "h", .type = MetricType::kHistogram, .buckets = {2, 1}}).ok());
  EXPECT_FALSE(r.family({.name = "h", .type = MetricType::kHistogram}).ok());
  EXPECT_FALSE(r.family({.name = "s", .type = MetricType::kSummary, .label_names = {"quantile"}}).ok());
  EXPECT_FALSE(r.family({.name = "s", .type = MetricType::kSummary, .quantiles = {0.5, 1.5}}).ok());
  EXPECT_FALSE(r.family({.name = "t_seconds", .unit = "bytes"}).ok());
  EXPECT_TRUE(r.family({.name = "t_seconds", .unit = "seconds"}).ok());
  EXPECT_TRUE(r.family({.name = "cpu_seconds_total", .unit = "seconds", .type = MetricType::kCounter}).ok());
}

TEST(Registry, CountersRefuseNegativeAndNaN) {
  Registry r;
  Family* c = mk(r, {.name = "c_total", .type = MetricType::kCounter});
  EXPECT_FALSE(c->set({}, -1).ok());
  EXPECT_FALSE(c->add({}, -1).ok());
  EXPECT_FALSE(c->set({}, std::nan("")).ok());
  EXPECT_TRUE(c->add({}, 2).ok());
  EXPECT_EQ(c->value({}), 2);
  EXPECT_FALSE(c->observe({}, 1).ok());  // wrong type
}

TEST(Registry, WrongLabelCountIsAnError) {
  Registry r;
  Family* g = mk(r, {.name = "g", .label_names = {"a", "b"}});
  auto st = g->set({"x"}, 1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("got 1 label values for 2"), std::string::npos);
  EXPECT_EQ(g->size(), 0u);
}

TEST(Registry, FamilyLimitDropsAndCounts) {
  Registry r({.max_series = 100, .max_series_per_family = 100});
  Family* g = mk(r, {.name = "g", .label_names = {"i"}, .max_series = 3});
  for (int i = 0; i < 5; ++i) (void)g->set({std::to_string(i)}, i);
  EXPECT_EQ(g->size(), 3u);
  EXPECT_EQ(g->dropped(), 2u);
  EXPECT_TRUE(g->set({"1"}, 10).ok());  // existing series still update
  EXPECT_EQ(g->value({"1"}), 10);
}

TEST(Registry, TotalLimitDropsAcrossFamilies) {
  Registry r({.max_series = 4, .max_series_per_family = 4});
  Family* a = mk(r, {.name = "a", .label_names = {"i"}});
  Family* b = mk(r, {.name = "b", .label_names = {"i"}});
  for (int i = 0; i < 3; ++i) (void)a->set({std::to_string(i)}, i);
  for (int i = 0; i < 3; ++i) (void)b->set({std::to_string(i)}, i);
  EXPECT_EQ(r.seriesCount(), 4u);
  EXPECT_EQ(b->dropped(), 2u);
  EXPECT_EQ(r.droppedTotal(), 2u);
}

// The total limit counts what the exposition carries, as Prometheus counts
// series: a histogram series is its buckets (+Inf too), _sum and _count. A
// 100,000-bucket histogram over 300 label values used to count as 300
// series and put 30 million samples on /metrics.
TEST(Registry, TotalLimitCountsEveryHistogramSample) {
  Registry r({.max_series = 1000, .max_series_per_family = 1000});
  std::vector<double> bounds;
  for (int i = 1; i <= 97; ++i) bounds.push_back(i);
  Family* h = mk(r, {.name = "h", .type = MetricType::kHistogram, .label_names = {"i"}, .buckets = bounds});
  for (int i = 0; i < 20; ++i) (void)h->observe({std::to_string(i)}, 1.5);
  EXPECT_EQ(h->size(), 10u);  // 10 x (97 + 1 + 2) = 1000
  EXPECT_EQ(r.seriesCount(), 1000u);
  EXPECT_EQ(h->dropped(), 10u);
  Family* g = mk(r, {.name = "g"});
  EXPECT_FALSE(g->set({}, 1).ok());
  ASSERT_TRUE(r.unregister("h"));
  EXPECT_EQ(r.seriesCount(), 0u);
  EXPECT_TRUE(g->set({}, 1).ok());
  EXPECT_EQ(r.seriesCount(), 1u);
}

TEST(Registry, SweepRemovesSeriesNotWrittenSinceLastSweep) {
  Registry r;
  Family* g = mk(r, {.name = "g", .label_names = {"i"}, .expire_unwritten = true});
  Family* keep = mk(r, {.name = "k", .label_names = {"i"}});
  (void)g->set({"a"}, 1);
  (void)g->set({"b"}, 2);
  (void)keep->set({"a"}, 1);
  r.sweep();
  (void)g->set({"b"}, 3);
  r.sweep();
  EXPECT_EQ(g->size(), 1u);
  EXPECT_FALSE(g->value({"a"}).has_value());
  EXPECT_EQ(g->value({"b"}), 3);
  EXPECT_EQ(keep->size(), 1u);  // non-expiring families keep their series
  EXPECT_EQ(r.seriesCount(), 2u);
}

TEST(Registry, UnregisterFreesNameAndSeries) {
  Registry r;
  Family* g = mk(r, {.name = "g_total", .type = MetricType::kCounter, .label_names = {"i"}});
  (void)g->set({"a"}, 1);
  EXPECT_TRUE(r.unregister("g_total"));
  EXPECT_EQ(r.seriesCount(), 0u);
  EXPECT_EQ(r.find("g_total"), nullptr);
  EXPECT_TRUE(r.family({.name = "g", .type = MetricType::kGauge}).ok());
}

// The index, swap-remove and arena compaction against a std::map model.
TEST(Registry, RandomInsertRemoveMatchesModel) {
  Registry r;
  Family* g = mk(r, {.name = "g", .label_names = {"k", "v"}});
  std::map<std::string, double> model;
  std::mt19937 rng(42);
  for (int step = 0; step < 200000; ++step) {
    const std::string k = std::to_string(rng() % 3000);
    const std::string v = (rng() % 2) ? "x\"y" : "long-label-value-to-fill-the-arena-quickly";
    const std::string key = k + "|" + v;
    if (rng() % 3 == 0) {
      EXPECT_EQ(g->remove({k, v}), model.erase(key) == 1);
    } else {
      const double val = step;
      ASSERT_TRUE(g->set({k, v}, val).ok());
      model[key] = val;
    }
  }
  ASSERT_EQ(g->size(), model.size());
  for (const auto& [key, val] : model) {
    const size_t bar = key.find('|');
    EXPECT_EQ(g->value({key.substr(0, bar), key.substr(bar + 1)}), val) << key;
  }
  // Every series renders exactly once.
  Buffer out;
  g->render(Format::kText004, out);
  size_t lines = 0;
  for (char c : out.view()) lines += c == '\n';
  EXPECT_EQ(lines, model.size() + 1);  // + TYPE line
}

TEST(Registry, HistogramObserveFillsCumulativeBuckets) {
  Registry r;
  Family* h = mk(r, {.name = "h_seconds", .type = MetricType::kHistogram, .buckets = {0.1, 1}});
  for (double x : {0.05, 0.1, 0.5, 2.0}) ASSERT_TRUE(h->observe({}, x).ok());
  Buffer out;
  h->render(Format::kText004, out);
  EXPECT_EQ(out.view(),
            "# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"0.1\"} 2\n"
            "h_seconds_bucket{le=\"1\"} 3\n"
            "h_seconds_bucket{le=\"+Inf\"} 4\n"
            "h_seconds_sum 2.65\n"
            "h_seconds_count 4\n");
}

TEST(Registry, SetHistogramValidatesCounts) {
  Registry r;
  Family* h = mk(r, {.name = "h", .type = MetricType::kHistogram, .buckets = {1, 2}});
  const double good[] = {1, 2, 3};
  const double short_counts[] = {1, 2};
  const double fractional[] = {1, 0.5, 3};
  EXPECT_TRUE(h->setHistogram({}, good, 10).ok());
  EXPECT_FALSE(h->setHistogram({}, short_counts, 10).ok());
  EXPECT_FALSE(h->setHistogram({}, fractional, 10).ok());
}

}  // namespace
}  // namespace bpfex::metrics

namespace bpfex::metrics {
namespace {

TEST(Registry, FreeLabelFamiliesTakeAnyLabelSetAndDropEmptyValues) {
  Registry r;
  Family* a = mk(r, {.name = "ALERTS", .free_labels = true});
  ASSERT_TRUE(a->setLabeled({{"alertname", "X"}, {"alertstate", "firing"}, {"hook", "xdp"}, {"empty", ""}}, 1).ok());
  ASSERT_TRUE(a->setLabeled({{"alertname", "Y"}, {"alertstate", "pending"}}, 1).ok());
  ASSERT_TRUE(a->setLabeled({{"hook", "xdp"}, {"alertstate", "firing"}, {"alertname", "X"}}, 1).ok());  // same series
  EXPECT_EQ(a->size(), 2u);
  Buffer out;
  a->render(Format::kText004, out);
  EXPECT_EQ(out.view(),
            "# TYPE ALERTS gauge\n"
            "ALERTS{alertname=\"X\",alertstate=\"firing\",hook=\"xdp\"} 1\n"
            "ALERTS{alertname=\"Y\",alertstate=\"pending\"} 1\n");
  EXPECT_FALSE(a->setLabeled({{"bad-name", "v"}}, 1).ok());
  EXPECT_FALSE(r.family({.name = "f", .label_names = {"a"}, .free_labels = true}).ok());
  EXPECT_FALSE(r.family({.name = "c_total", .type = MetricType::kCounter, .free_labels = true}).ok());
}

}  // namespace
}  // namespace bpfex::metrics
