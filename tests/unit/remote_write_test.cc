// Remote write's pieces on their own: the text reader, the WriteRequest
// encoder (read back by a small protobuf reader written here from prompb's
// field numbers), Retry-After, the spool, and the sender's
// memory bound against a receiver that is not there.
#include <gtest/gtest.h>

#include <snappy.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "export/remote_write.h"
#include "export/remote_write_encode.h"
#include "export/remote_write_spool.h"
#include "metrics/registry.h"
#include "metrics/snapshot.h"

namespace bpfex::exporter {
namespace {

// --- a protobuf reader for the test: varints, fixed64 and lengths only ---
struct Field {
  uint32_t num, wire;
  uint64_t v = 0;           // varint or fixed64 bits
  std::string_view bytes;   // length-delimited
};
std::vector<Field> fields(std::string_view s) {
  std::vector<Field> out;
  size_t i = 0;
  auto varint = [&]() {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const auto b = static_cast<uint8_t>(s.at(i++));
      v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
  };
  while (i < s.size()) {
    const uint64_t key = varint();
    Field f{static_cast<uint32_t>(key >> 3), static_cast<uint32_t>(key & 7)};
    if (f.wire == 0) f.v = varint();
    else if (f.wire == 1) {
      std::memcpy(&f.v, s.data() + i, 8);
      i += 8;
    } else if (f.wire == 2) {
      const size_t n = varint();
      f.bytes = s.substr(i, n);
      i += n;
    } else {
      ADD_FAILURE() << "wire type " << f.wire;
      return out;
    }
    out.push_back(f);
  }
  return out;
}

struct Series {
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<int64_t, double>> samples;
};
std::vector<Series> decode(const std::string& write_request) {
  std::vector<Series> out;
  for (const Field& ts : fields(write_request)) {
    EXPECT_EQ(ts.num, 1u);  // WriteRequest.timeseries
    Series s;
    for (const Field& f : fields(ts.bytes)) {
      if (f.num == 1) {  // labels
        std::string name, value;
        for (const Field& l : fields(f.bytes)) (l.num == 1 ? name : value) = std::string(l.bytes);
        s.labels.emplace_back(name, value);
      } else if (f.num == 2) {  // samples
        int64_t t = 0;
        double v = 0;
        for (const Field& x : fields(f.bytes)) {
          if (x.num == 1) v = std::bit_cast<double>(x.v);
          if (x.num == 2) t = static_cast<int64_t>(x.v);
        }
        s.samples.emplace_back(t, v);
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

TEST(RemoteWriteEncode, ReadsEverySampleLineOfTheExposition) {
  const std::string body =
      "# HELP a_total help\n# TYPE a_total counter\na_total 3\n"
      "b{x=\"with space } and \\\" quote\",y=\"\"} -Inf\n"
      "c +Inf\nd NaN\ne 1.7976931348623157e+308\nf 5e-324\n\nbroken\n";
  std::vector<std::pair<std::string, double>> got;
  const size_t bad = forEachTextSample(body, [&](std::string_view s, double v) { got.emplace_back(s, v); });
  EXPECT_EQ(bad, 1u);  // "broken"
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0], (std::pair<std::string, double>{"a_total", 3}));
  EXPECT_EQ(got[1].first, "b{x=\"with space } and \\\" quote\",y=\"\"}");
  EXPECT_EQ(got[1].second, -INFINITY);
  EXPECT_EQ(got[2].second, INFINITY);
  EXPECT_TRUE(std::isnan(got[3].second));
  EXPECT_FALSE(isStaleNaN(got[3].second));  // a NaN a rule wrote is not the end of a series
  EXPECT_EQ(got[4].second, 1.7976931348623157e308);
  EXPECT_EQ(got[5].second, 5e-324);
}

TEST(RemoteWriteEncode, LabelsSortedExternalAddedEmptyLeftOutEscapesUndone) {
  WriteRequestBuilder b({{"job", "node"}, {"A", "upper"}, {"x", "external loses"}});
  ASSERT_TRUE(b.add(R"(m_total{x="q\"b\\n\nz",empty="",b="1"})", 2.5, 1700000000123));
  ASSERT_TRUE(b.add("plain", staleNaN(), 5));
  EXPECT_FALSE(b.add("{x=\"1\"}", 1, 1));  // no name
  EXPECT_EQ(b.samples(), 2u);
  const auto series = decode(b.bytes());
  ASSERT_EQ(series.size(), 2u);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"A", "upper"}, {"__name__", "m_total"}, {"b", "1"}, {"job", "node"}, {"x", "q\"b\\n\nz"}};
  EXPECT_EQ(series[0].labels, want);
  ASSERT_EQ(series[0].samples.size(), 1u);
  EXPECT_EQ(series[0].samples[0].first, 1700000000123);
  EXPECT_EQ(series[0].samples[0].second, 2.5);
  EXPECT_EQ(std::bit_cast<uint64_t>(series[1].samples[0].second), kStaleNaNBits);
  // Snappy's block format round trip.
  std::string raw;
  const std::string packed = snappyCompress(b.bytes());
  ASSERT_TRUE(snappy::Uncompress(packed.data(), packed.size(), &raw));
  EXPECT_EQ(raw, b.bytes());
}

// A native histogram from the protobuf exposition to prompb.Histogram:
// count, sum, schema, zero bucket, spans and deltas, field by field.
TEST(RemoteWriteEncode, NativeHistogramsCarryOverFromTheExposition) {
  metrics::Registry reg;
  std::vector<double> bounds;
  for (int k = 0; k < 8; ++k) bounds.push_back(std::ldexp(1.0, k));
  auto* f = reg.family({.name = "lat_seconds", .help = "h", .type = metrics::MetricType::kHistogram,
                        .label_names = {"op"}, .buckets = bounds, .histogram = metrics::HistogramKind::kBoth})
                .value();
  const std::vector<double> slots = {1, 0, 2, 3, 0, 0, 0, 1};  // slot k: (2^(k-1), 2^k]
  ASSERT_TRUE(f->setLog2({"read"}, slots, 42.5, 4).ok());
  auto* classic = reg.family({.name = "c_seconds", .help = "h", .type = metrics::MetricType::kHistogram,
                              .buckets = {1, 2}}).value();
  ASSERT_TRUE(classic->observe({}, 1).ok());
  metrics::Buffer stream;
  f->renderProtobuf(stream);
  classic->renderProtobuf(stream);
  std::vector<std::pair<std::string, std::string>> got;
  EXPECT_EQ(forEachNativeHistogram(stream.view(), [&](std::string_view s, std::string_view h) { got.emplace_back(s, h); }), 0u);
  ASSERT_EQ(got.size(), 1u);  // the classic-only family is not native
  EXPECT_EQ(got[0].first, std::string("lat_seconds\0op\0read\0", 20));
  WriteRequestBuilder b({});
  ASSERT_TRUE(b.addHistogram(got[0].first, got[0].second, 1234, false));
  ASSERT_TRUE(b.addHistogram(got[0].first, got[0].second, 2345, true));
  // WriteRequest.timeseries[0].histograms[0]
  std::vector<Field> ts = fields(fields(b.bytes())[0].bytes);
  std::string_view hist;
  std::vector<std::pair<std::string, std::string>> labels;
  for (const Field& x : ts) {
    if (x.num == 4) hist = x.bytes;
    if (x.num == 1) {
      auto l = fields(x.bytes);
      labels.emplace_back(l[0].bytes, l[1].bytes);
    }
  }
  EXPECT_EQ(labels, (std::vector<std::pair<std::string, std::string>>{{"__name__", "lat_seconds"}, {"op", "read"}}));
  uint64_t count = 0, zero = 0, ts_ms = 0;
  double sum = 0;
  int64_t schema = -99;
  std::vector<std::pair<int64_t, uint64_t>> spans;
  std::vector<int64_t> deltas;
  auto unzig = [](uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); };
  for (const Field& x : fields(hist)) {
    if (x.num == 1) count = x.v;
    if (x.num == 3) sum = std::bit_cast<double>(x.v);
    if (x.num == 4) schema = unzig(x.v);
    if (x.num == 6) zero = x.v;
    if (x.num == 11) {
      auto sp = fields(x.bytes);
      spans.emplace_back(unzig(sp[0].v), sp[1].v);
    }
    if (x.num == 12) deltas.push_back(unzig(x.v));
    if (x.num == 15) ts_ms = x.v;
  }
  metrics::Buffer text;
  f->render(metrics::Format::kText004, text);
  EXPECT_NE(text.view().find("lat_seconds_count{op=\"read\"} " + std::to_string(count) + "\n"), std::string_view::npos)
      << text.view();  // the native count is the classic one
  EXPECT_EQ(sum, 42.5);
  EXPECT_EQ(schema, 0);
  EXPECT_EQ(zero, 4u);
  EXPECT_EQ(ts_ms, 1234u);
  ASSERT_FALSE(spans.empty());
  int64_t total = 0, running = 0;
  for (int64_t d : deltas) total += (running += d);
  EXPECT_EQ(static_cast<uint64_t>(total) + zero, count);
  // The stale marker: the sum is the staleness NaN, nothing else but the timestamp.
  std::string_view stale;
  for (const Field& x : fields(fields(b.bytes())[1].bytes))
    if (x.num == 4) stale = x.bytes;
  auto sf = fields(stale);
  ASSERT_EQ(sf.size(), 2u);
  EXPECT_EQ(sf[0].num, 3u);
  EXPECT_EQ(sf[0].v, kStaleNaNBits);
}

TEST(RemoteWriteEncode, SeriesHashSpreadsOneFamilyOverShards) {
  std::vector<int> per(8);
  for (int i = 0; i < 8000; ++i) ++per[seriesHash("flow_bytes_total{iface=\"eth0\",port=\"" + std::to_string(i) + "\"}") % 8];
  for (int n : per) EXPECT_NEAR(n, 1000, 150);
}

TEST(RemoteWriteHttp, RetryAfterIsSecondsOrADate) {
  EXPECT_EQ(retryAfterSeconds("5", 0), 5.0);
  EXPECT_EQ(retryAfterSeconds("", 0), std::nullopt);
  EXPECT_EQ(retryAfterSeconds("soon", 0), std::nullopt);
  EXPECT_EQ(retryAfterSeconds("99999999999", 0), std::nullopt);
  // Wed, 21 Oct 2015 07:28:00 GMT is 1445412480.
  EXPECT_EQ(retryAfterSeconds("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470), 10.0);
  EXPECT_EQ(retryAfterSeconds("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0.0);  // past: at once
}

// A receiver that is not there and a budget of two ticks: the queue keeps
// the newest ticks that fit, drops the oldest, and counts every sample.
TEST(RemoteWriter, MemoryBoundDropsTheOldestTicksAndCountsThem) {
  metrics::Registry reg;
  auto* fam = reg.family({.name = "g", .help = "h", .label_names = {"i"}}).value();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(fam->set({std::to_string(i)}, i).ok());
  metrics::VariantSet text{};
  text[0][0] = true;
  auto snap = metrics::renderSnapshot(reg, text, 1, nullptr);
  snap->unix_time = 1700000000;
  const size_t tick_bytes = snap->body(metrics::Format::kText004, false)->size();
  RemoteWriteBudget budget(tick_bytes * 2 + tick_bytes / 2);
  RemoteWriteOptions o{.name = "nowhere", .url = "http://127.0.0.1:1/write", .remote_timeout_seconds = 1};
  o.queue.batch_send_deadline = 3600;  // nothing leaves the queue while the test offers
  o.queue.max_samples_per_send = 1'000'000;
  RemoteWriter w(o, budget);
  w.start();
  for (int t = 0; t < 10; ++t) w.offer(*snap);
  RemoteWriteStats s = w.stats();
  EXPECT_EQ(s.samples_dropped["memory"], 8 * 100u);
  EXPECT_EQ(s.samples_pending, 2 * 100u);
  EXPECT_EQ(budget.used(), 2 * tick_bytes);
  w.stop(0);
  s = w.stats();
  EXPECT_EQ(s.samples_dropped["shutdown"], 2 * 100u);
  EXPECT_EQ(budget.used(), 0u);
  EXPECT_EQ(s.samples_sent, 0u);
}

std::string scratchDir() {
  char tmpl[] = "/tmp/bpfex-spool-XXXXXX";
  return mkdtemp(tmpl);
}

std::string noise(size_t n, uint32_t seed) {  // incompressible text
  std::string s(n, ' ');
  for (char& c : s) {
    seed = seed * 1103515245 + 12345;
    c = static_cast<char>('!' + (seed >> 16) % 90);
  }
  return s;
}

TEST(Spool, RecoversWhatWasNotAckedInOrderAndReadsItBack) {
  const std::string dir = scratchDir();
  {
    auto sp = Spool::open(dir, 64 << 20).value();
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(sp->append(i * 1000, i, "tick " + std::to_string(i) + "\n").ok());
    sp->ack(1000);
  }
  auto sp = Spool::open(dir, 64 << 20).value();  // a new process: what the last one left
  ASSERT_EQ(sp->recovered().size(), 2u);
  EXPECT_EQ(sp->recovered()[0].timestamp_ms, 2000);
  EXPECT_EQ(sp->recovered()[1].samples, 3u);
  EXPECT_EQ(sp->read(sp->recovered()[1].loc).value()->view(), "tick 3\n");
  sp->ack(3000);
  EXPECT_TRUE(Spool::open(dir, 64 << 20).value()->recovered().empty());
  std::filesystem::remove_all(dir);
}

TEST(Spool, ATornTailEndsItsSegmentOnly) {
  const std::string dir = scratchDir();
  std::string seg;
  {
    auto sp = Spool::open(dir, 64 << 20).value();
    ASSERT_TRUE(sp->append(1, 1, "one").ok());
    ASSERT_TRUE(sp->append(2, 1, "two").ok());
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".seg") seg = e.path();
  }
  std::filesystem::resize_file(seg, std::filesystem::file_size(seg) - 2);  // a crash mid-write
  auto sp = Spool::open(dir, 64 << 20).value();
  ASSERT_EQ(sp->recovered().size(), 1u);
  EXPECT_EQ(sp->corruptRecords(), 1u);
  EXPECT_EQ(sp->read(sp->recovered()[0].loc).value()->view(), "one");
  ASSERT_TRUE(sp->append(3, 1, "three").ok());  // into a new segment, never after the torn tail
  EXPECT_EQ(Spool::open(dir, 64 << 20).value()->recovered().size(), 2u);
  std::filesystem::remove_all(dir);
}

TEST(Spool, OverItsCapTheOldestSegmentGoesAndItsUndeliveredSamplesAreCounted) {
  const std::string dir = scratchDir();
  auto sp = Spool::open(dir, 1 << 20).value();  // segments roll at 256 KiB
  uint64_t lost_total = 0;
  for (int i = 1; i <= 30; ++i) {
    ASSERT_TRUE(sp->append(i, 10, noise(100 << 10, i)).ok());
    uint64_t lost = 0;
    sp->enforceCap(&lost);
    lost_total += lost;
    EXPECT_LE(sp->bytes(), (1u << 20) + (300u << 10));
  }
  EXPECT_GT(lost_total, 0u);
  auto again = Spool::open(dir, 1 << 20).value();
  EXPECT_EQ(again->recovered().size() * 10 + lost_total, 300u);  // every tick: still there, or counted lost
  EXPECT_EQ(again->recovered().back().timestamp_ms, 30);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bpfex::exporter
