#include "metrics/exposition.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <limits>
#include <string>

#include "metrics/snapshot.h"

namespace bpfex::metrics {
namespace {

void fill(Registry& r) {
  auto c = r.family({.name = "vpn_packets_total", .help = "Total \"packets\" \\ processed\nby hook",
                     .type = MetricType::kCounter, .label_names = {"direction", "hook"}});
  (void)c.value()->set({"ingress", "xdp"}, 1234567);
  (void)c.value()->set({"egress", "tc \"egress\"\n\\"}, 2);
  auto g = r.family({.name = "vpn_cpu_usage_percent", .help = "CPU use", .type = MetricType::kGauge,
                     .label_names = {"cpu"}});
  (void)g.value()->set({"0"}, 25.3);
  (void)g.value()->set({"1"}, std::numeric_limits<double>::quiet_NaN());
  (void)g.value()->set({"2"}, -std::numeric_limits<double>::infinity());
  auto h = r.family({.name = "vpn_idp_sync_duration_seconds", .help = "IDP sync time", .unit = "seconds",
                     .type = MetricType::kHistogram, .buckets = {1, 2, 5}});
  const double counts[] = {240, 5, 3, 0};
  (void)h.value()->setHistogram({}, counts, 523.4);
  auto s = r.family({.name = "vpn_latency_microseconds", .help = "Packet processing latency",
                     .type = MetricType::kSummary, .label_names = {"hook"}, .quantiles = {0.5, 0.95, 0.99}});
  const double q[] = {7.2, 9.8, 12.3};
  (void)s.value()->setSummary({"xdp"}, q, 8932145.6, 1234567);
  auto i = r.family({.name = "bpfex_build_info", .help = "Build", .type = MetricType::kInfo,
                     .label_names = {"version"}});
  (void)i.value()->setInfo({"0.1.0"});
  (void)r.family({.name = "empty_gauge", .help = "no series"});
}

std::string render(const Registry& r, Format f) {
  Buffer b;
  renderRegistry(r, f, b);
  return std::string(b.view());
}

TEST(Exposition, Text004Golden) {
  Registry r;
  fill(r);
  EXPECT_EQ(render(r, Format::kText004),
            "# HELP vpn_packets_total Total \"packets\" \\\\ processed\\nby hook\n"
            "# TYPE vpn_packets_total counter\n"
            "vpn_packets_total{direction=\"ingress\",hook=\"xdp\"} 1234567\n"
            "vpn_packets_total{direction=\"egress\",hook=\"tc \\\"egress\\\"\\n\\\\\"} 2\n"
            "# HELP vpn_cpu_usage_percent CPU use\n"
            "# TYPE vpn_cpu_usage_percent gauge\n"
            "vpn_cpu_usage_percent{cpu=\"0\"} 25.3\n"
            "vpn_cpu_usage_percent{cpu=\"1\"} NaN\n"
            "vpn_cpu_usage_percent{cpu=\"2\"} -Inf\n"
            "# HELP vpn_idp_sync_duration_seconds IDP sync time\n"
            "# TYPE vpn_idp_sync_duration_seconds histogram\n"
            "vpn_idp_sync_duration_seconds_bucket{le=\"1\"} 240\n"
            "vpn_idp_sync_duration_seconds_bucket{le=\"2\"} 245\n"
            "vpn_idp_sync_duration_seconds_bucket{le=\"5\"} 248\n"
            "vpn_idp_sync_duration_seconds_bucket{le=\"+Inf\"} 248\n"
            "vpn_idp_sync_duration_seconds_sum 523.4\n"
            "vpn_idp_sync_duration_seconds_count 248\n"
            "# HELP vpn_latency_microseconds Packet processing latency\n"
            "# TYPE vpn_latency_microseconds summary\n"
            "vpn_latency_microseconds{hook=\"xdp\",quantile=\"0.5\"} 7.2\n"
            "vpn_latency_microseconds{hook=\"xdp\",quantile=\"0.95\"} 9.8\n"
            "vpn_latency_microseconds{hook=\"xdp\",quantile=\"0.99\"} 12.3\n"
            "vpn_latency_microseconds_sum{hook=\"xdp\"} 8932145.6\n"
            "vpn_latency_microseconds_count{hook=\"xdp\"} 1234567\n"
            "# HELP bpfex_build_info Build\n"
            "# TYPE bpfex_build_info gauge\n"
            "bpfex_build_info{version=\"0.1.0\"} 1\n");
}

TEST(Exposition, OpenMetricsGolden) {
  Registry r;
  fill(r);
  EXPECT_EQ(render(r, Format::kOpenMetrics),
            "# TYPE vpn_packets counter\n"
            "# HELP vpn_packets Total \\\"packets\\\" \\\\ processed\\nby hook\n"
            "vpn_packets_total{direction=\"ingress\",hook=\"xdp\"} 1234567\n"
            "vpn_packets_total{direction=\"egress\",hook=\"tc \\\"egress\\\"\\n\\\\\"} 2\n"
            "# TYPE vpn_cpu_usage_percent gauge\n"
            "# HELP vpn_cpu_usage_percent CPU use\n"
            "vpn_cpu_usage_percent{cpu=\"0\"} 25.3\n"
            "vpn_cpu_usage_percent{cpu=\"1\"} NaN\n"
            "vpn_cpu_usage_percent{cpu=\"2\"} -Inf\n"
            "# TYPE vpn_idp_sync_duration_seconds histogram\n"
            "# UNIT vpn_idp_sync_duration_seconds seconds\n"
            "# HELP vpn_idp_sync_duration_seconds IDP sync time\n"
            "vpn_idp_sync_duration_seconds_bucket{le=\"1.0\"} 240\n"
            "vpn_idp_sync_duration_seconds_bucket{le=\"2.0\"} 245\n"
            "vpn_idp_sync_duration_seconds_bucket{le=\"5.0\"} 248\n"
            "vpn_idp_sync_duration_seconds_bucket{le=\"+Inf\"} 248\n"
            "vpn_idp_sync_duration_seconds_sum 523.4\n"
            "vpn_idp_sync_duration_seconds_count 248\n"
            "# TYPE vpn_latency_microseconds summary\n"
            "# HELP vpn_latency_microseconds Packet processing latency\n"
            "vpn_latency_microseconds{hook=\"xdp\",quantile=\"0.5\"} 7.2\n"
            "vpn_latency_microseconds{hook=\"xdp\",quantile=\"0.95\"} 9.8\n"
            "vpn_latency_microseconds{hook=\"xdp\",quantile=\"0.99\"} 12.3\n"
            "vpn_latency_microseconds_sum{hook=\"xdp\"} 8932145.6\n"
            "vpn_latency_microseconds_count{hook=\"xdp\"} 1234567\n"
            "# TYPE bpfex_build info\n"
            "# HELP bpfex_build Build\n"
            "bpfex_build_info{version=\"0.1.0\"} 1\n"
            "# EOF\n");
}

TEST(Exposition, EmptyRegistryIsValid) {
  Registry r;
  EXPECT_EQ(render(r, Format::kText004), "");
  EXPECT_EQ(render(r, Format::kOpenMetrics), "# EOF\n");
}

TEST(Exposition, NegotiatesLikeClientGolang) {
  // Prometheus 2.42's scrape Accept header.
  EXPECT_EQ(negotiateFormat("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                            "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            Format::kOpenMetrics);
  // Prometheus 3's default: OM 1.0.0 with escaping=allow-utf-8 at q=0.5 is still OM.
  EXPECT_EQ(negotiateFormat("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                            "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;"
                            "escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"),
            Format::kOpenMetrics);
  EXPECT_EQ(negotiateFormat(""), Format::kText004);
  EXPECT_EQ(negotiateFormat("*/*"), Format::kText004);
  EXPECT_EQ(negotiateFormat("text/plain"), Format::kText004);
  EXPECT_EQ(negotiateFormat("application/json"), Format::kText004);
  EXPECT_EQ(negotiateFormat("application/openmetrics-text; version=2.0.0"), Format::kText004);
  EXPECT_EQ(negotiateFormat("text/plain;q=0.9, application/openmetrics-text;q=0.2"), Format::kText004);
  EXPECT_EQ(negotiateFormat("application/openmetrics-text;q=0, text/plain;q=0.1"), Format::kText004);
  EXPECT_EQ(negotiateFormat("Application/OpenMetrics-Text; Version=1.0.0"), Format::kOpenMetrics);
}

TEST(Exposition, NegotiatesProtobufAsPrometheusAsksForIt) {
  // Prometheus 2.42 with --enable-feature=native-histograms:
  EXPECT_EQ(negotiateFormat("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;"
                            "q=0.8,application/openmetrics-text;version=1.0.0;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"),
            Format::kProtobuf);
  EXPECT_EQ(negotiateFormat("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"),
            Format::kText004);  // only the delimited stream
  EXPECT_EQ(negotiateFormat("application/vnd.google.protobuf"), Format::kText004);
  EXPECT_EQ(contentType(Format::kProtobuf),
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited");
}

// The bytes of metrics.proto's encoding, worked out by hand for one gauge.
TEST(Exposition, ProtobufBytesOfAGauge) {
  Registry r;
  auto g = r.family({.name = "g", .help = "h", .label_names = {"a"}});
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(g.value()->set({"x\"y"}, 1.5).ok());
  Buffer b;
  renderRegistry(r, Format::kProtobuf, b);
  const std::string want =
      std::string("\x1f"                      // the delimiting length: 31 bytes
                  "\x0a\x01g"                 // name
                  "\x12\x01h"                 // help
                  "\x18\x01"                  // type GAUGE
                  "\x22\x15"                  // metric, 21 bytes
                  "\x0a\x08\x0a\x01" "a" "\x12\x03x\"y"  // label a = x"y (raw, not escaped)
                  "\x12\x09\x09", 24) +
      std::string("\x00\x00\x00\x00\x00\x00\xf8\x3f", 8);  // gauge value 1.5, fixed64 LE
  EXPECT_EQ(std::string(b.view()), want);
}

// Native schema 0 from log2 slots: zeros in the zero bucket, one span per run
// of non-empty buckets, deltas between consecutive buckets.
TEST(Exposition, ProtobufNativeHistogramSpansAndDeltas) {
  Registry r;
  auto h = r.family({.name = "lat", .type = MetricType::kHistogram, .buckets = {1, 2, 4},
                     .histogram = HistogramKind::kNative});
  ASSERT_TRUE(h.ok()) << h.error().message();
  ASSERT_TRUE(h.value()->setLog2({}, std::vector<double>{1, 0, 2}, 9, 1).ok());
  Buffer b;
  renderRegistry(r, Format::kProtobuf, b);
  const std::string body(b.view());
  EXPECT_NE(body.find(std::string("\x28\x00", 2)), std::string::npos);        // schema 0
  EXPECT_NE(body.find(std::string("\x38\x01", 2)), std::string::npos);        // zero_count 1
  EXPECT_NE(body.find(std::string("\x62\x04\x08\x00\x10\x01", 6)), std::string::npos);  // span: index 0, 1 bucket
  EXPECT_NE(body.find(std::string("\x62\x04\x08\x02\x10\x01", 6)), std::string::npos);  // span: gap 1, 1 bucket
  EXPECT_NE(body.find(std::string("\x68\x02\x68\x02", 4)), std::string::npos);  // deltas +1, +1
  EXPECT_EQ(body.find(std::string("\x1a", 1) + "\x0b"), std::string::npos);  // no classic buckets (native only)
  // Text shows a native-only histogram as +Inf, _sum and _count.
  Buffer t;
  renderRegistry(r, Format::kText004, t);
  EXPECT_EQ(std::string(t.view()), "# TYPE lat histogram\nlat_bucket{le=\"+Inf\"} 4\nlat_sum 9\nlat_count 4\n");
  // Bounds that are not 2^k for consecutive k cannot be native.
  EXPECT_FALSE(r.family({.name = "bad", .type = MetricType::kHistogram, .buckets = {1, 2, 5},
                         .histogram = HistogramKind::kBoth}).ok());
  EXPECT_FALSE(r.family({.name = "bad2", .type = MetricType::kHistogram, .buckets = {0.001, 0.002},
                         .histogram = HistogramKind::kBoth}).ok());
}

TEST(Exposition, AcceptEncoding) {
  EXPECT_TRUE(acceptsGzip("gzip"));
  EXPECT_TRUE(acceptsGzip("deflate, gzip;q=1.0, *;q=0.5"));
  EXPECT_TRUE(acceptsGzip("*"));
  EXPECT_FALSE(acceptsGzip("gzip;q=0"));
  EXPECT_FALSE(acceptsGzip("identity"));
  EXPECT_FALSE(acceptsGzip(""));
}

std::string gunzip(std::string_view in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out(in.size() * 20 + 1024, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

TEST(Snapshot, GzipBodyIsIdenticalToPlain) {
  Registry r;
  fill(r);
  auto g = r.family({.name = "many", .label_names = {"i"}});
  for (int i = 0; i < 5000; ++i) (void)g.value()->set({std::to_string(i)}, i * 1.5);
  VariantSet all{};
  for (auto& f : all) f = {true, true};
  auto snap = renderSnapshot(r, all, 6, nullptr);
  for (Format f : {Format::kText004, Format::kOpenMetrics}) {
    ASSERT_NE(snap->body(f, false), nullptr);
    ASSERT_NE(snap->body(f, true), nullptr);
    EXPECT_EQ(gunzip(snap->body(f, true)->view()), snap->body(f, false)->view());
    EXPECT_LT(snap->body(f, true)->size(), snap->body(f, false)->size() / 3);
  }
}

TEST(Snapshot, RendersOnlyWhatWasAskedForAndFallsBack) {
  Registry r;
  fill(r);
  Publisher p(60);
  const int64_t now = 1'000'000'000'000;
  VariantSet w = p.wanted(now);
  EXPECT_TRUE(w[0][0]);  // text plain always
  EXPECT_FALSE(w[0][1] || w[1][0] || w[1][1]);
  auto snap = renderSnapshot(r, w, 1, nullptr);
  // An OpenMetrics+gzip scrape before that variant exists gets text, plain...
  const Variant v = snap->choose(Format::kOpenMetrics, true);
  EXPECT_EQ(v.format, Format::kText004);
  EXPECT_FALSE(v.gzip);
  // ...and the next tick renders OpenMetrics+gzip (without keeping OM plain).
  p.noteDemand(Format::kOpenMetrics, true, now);
  w = p.wanted(now + 1);
  EXPECT_TRUE(w[1][1]);
  EXPECT_TRUE(w[0][0]);
  EXPECT_FALSE(w[1][0]);
  snap = renderSnapshot(r, w, 1, snap.get());
  const Variant v2 = snap->choose(Format::kOpenMetrics, true);
  EXPECT_EQ(v2.format, Format::kOpenMetrics);
  EXPECT_TRUE(v2.gzip);
  EXPECT_EQ(snap->body(Format::kOpenMetrics, false), nullptr);
  // Clients that take neither gzip nor OpenMetrics still get bytes, and
  // plain curl keeps getting text even while Prometheus reads OpenMetrics
  // (the crash and the surprise the Prometheus test found).
  for (Format f : {Format::kText004, Format::kOpenMetrics}) {
    const Variant v3 = snap->choose(f, false);
    EXPECT_FALSE(v3.gzip);
    ASSERT_NE(snap->body(v3.format, v3.gzip), nullptr);
  }
  EXPECT_EQ(snap->choose(Format::kText004, false).format, Format::kText004);
  // Demand expires after the window.
  w = p.wanted(now + 61'000'000'000);
  EXPECT_FALSE(w[1][1]);
  EXPECT_TRUE(w[0][0]);
}

}  // namespace
}  // namespace bpfex::metrics
