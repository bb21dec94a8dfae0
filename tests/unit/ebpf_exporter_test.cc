#include "engine/ebpf_exporter.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace bpfex::engine {
namespace {

// One label of `size` bytes through the named decoders; "<dropped>" when a
// decoder drops the label set.
std::string decode(std::vector<EbpfExporterDecoder> decoders, const void* bytes, uint32_t size) {
  EbpfExporterLabel l{.name = "x", .size = size, .padding = 0, .decoders = std::move(decoders)};
  std::string out;
  return decodeEbpfExporterLabel(l, static_cast<const uint8_t*>(bytes), out) ? out : "<dropped>";
}
EbpfExporterDecoder d(const char* name) { return {.name = name, .static_map = {}, .allow_unknown = false, .regexps = {}, .compiled = {}}; }

TEST(EbpfExporter, Decoders) {
  const uint64_t n64 = 14, getppid = 110, epipe = 32, big = 5000;
  const uint32_t n32 = 7, lo = 1;
  const uint16_t n16 = 65535;
  const uint8_t n8 = 200;
  EXPECT_EQ(decode({d("uint")}, &n64, 8), "14");
  EXPECT_EQ(decode({d("uint")}, &n32, 4), "7");
  EXPECT_EQ(decode({d("uint")}, &n16, 2), "65535");
  EXPECT_EQ(decode({d("uint")}, &n8, 1), "200");
  EXPECT_EQ(decode({d("uint")}, "abc", 3), "<dropped>");  // no 3-byte integer
  EXPECT_EQ(decode({d("uint"), d("syscall")}, &getppid, 8), "getppid");
  EXPECT_EQ(decode({d("uint"), d("syscall")}, &big, 8), "unknown_syscall:5000");
  EXPECT_EQ(decode({d("uint"), d("errno")}, &epipe, 8), "EPIPE");
  EXPECT_EQ(decode({d("uint"), d("errno")}, &big, 8), "unknown:5000");
  EXPECT_EQ(decode({d("string")}, "kswapd0\0\0junk", 12), "kswapd0");
  EXPECT_EQ(decode({d("hex")}, "\x01\xab", 2), "01ab");
  EXPECT_EQ(decode({d("ifname")}, &lo, 4), "lo");
  const uint32_t no_if = 999999;
  EXPECT_EQ(decode({d("ifname")}, &no_if, 4), "unknown:999999");
  const uint8_t v4[4] = {10, 1, 2, 3};
  EXPECT_EQ(decode({d("inet_ip")}, v4, 4), "10.1.2.3");
  const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(decode({d("inet_ip")}, v6, 16), "2001:db8::1");
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  EXPECT_EQ(decode({d("inet_ip")}, mapped, 16), "192.0.2.1");  // as Go's net.IP prints it
  const uint64_t zero = 0;
  EXPECT_EQ(decode({d("ksym")}, &zero, 8), "unknown_addr:0x0");
  const uint32_t dev = (4095u << 8) | 255u;  // a device no partition has
  EXPECT_EQ(decode({d("majorminor")}, &dev, 4), "unknown:4095:255");

  EbpfExporterDecoder sm = d("static_map");
  sm.static_map = {{"1", "read"}, {"2", "write"}};
  const uint32_t one = 1, three = 3;
  EXPECT_EQ(decode({d("uint"), sm}, &one, 4), "read");
  EXPECT_EQ(decode({d("uint"), sm}, &three, 4), "unknown:3");
  sm.allow_unknown = true;
  EXPECT_EQ(decode({d("uint"), sm}, &three, 4), "3");

  EbpfExporterDecoder re = d("regexp");
  re.regexps = {"^(kswapd).*$", "^systemd-journal$"};
  for (const auto& r : re.regexps) re.compiled.push_back(std::make_shared<const re2::RE2>(r));
  EXPECT_EQ(decode({d("string"), re}, "kswapd0\0", 8), "kswapd");              // the first submatch
  EXPECT_EQ(decode({d("string"), re}, "systemd-journal\0", 16), "systemd-journal");
  EXPECT_EQ(decode({d("string"), re}, "bash\0", 5), "<dropped>");             // no pattern: the set dropped
}

TEST(EbpfExporter, ConfigErrorsNameTheLine) {
  const std::string dir = ::testing::TempDir();
  auto load = [&](const std::string& yaml) {
    std::ofstream(dir + "/c.yaml") << yaml;
    auto c = loadEbpfExporterConfig(dir, "c");
    return c ? std::string() : c.error().message();
  };
  EXPECT_EQ(load("metrics:\n  counters:\n    - name: a_total\n      labels: [{name: k, size: 8, decoders: [{name: uint}]}]\n"), "");
  EXPECT_NE(load("metrics:\n  counters:\n    - name: a_total\n      labels: [{name: k, decoders: [{name: uint}]}]\n")
                .find("c.yaml:4:16: metrics.counters[0].labels[0].size: required"),
            std::string::npos);
  EXPECT_NE(load("metrics:\n  gauges: []\n").find("c.yaml:2:3: metrics.gauges: unknown key (counters, histograms)"),
            std::string::npos);
  EXPECT_NE(load("metrics:\n  counters:\n    - name: a\n      perf_event_array: true\n")
                .find("c.yaml:4:7: metrics.counters[0].perf_event_array: not supported by bpfex"),
            std::string::npos);
  EXPECT_NE(load("metrics:\n  histograms:\n    - name: h\n      bucket_type: exp2\n      bucket_min: 5\n      bucket_max: 5\n"
                 "      labels: [{name: bucket, size: 8, decoders: [{name: uint}]}]\n")
                .find("bucket_max: must be over bucket_min"),
            std::string::npos);
  EXPECT_NE(load("metrics:\n  counters:\n    - name: a\n      labels: [{name: k, size: 8, decoders: [{name: regexp, regexps: ['(']}]}]\n")
                .find("regexps: \"(\": missing )"),
            std::string::npos) << load("metrics:\n  counters:\n    - name: a\n      labels: [{name: k, size: 8, decoders: [{name: regexp, regexps: ['(']}]}]\n");
  EXPECT_NE(load("metrics: [").find("c.yaml:"), std::string::npos);
  EXPECT_NE(load("metrics:\n  counters:\n    - {name: a, labels: []}\n    - {name: a, labels: []}\n")
                .find("c.yaml:4:7: metrics.counters[1].name: \"a\" is also"),
            std::string::npos);
  // Bounds that would not make a histogram: refused at the metric's line, not at registration.
  EXPECT_NE(load("metrics:\n  histograms:\n    - name: h\n      bucket_type: exp2\n      bucket_min: 0\n      bucket_max: 1100\n"
                 "      labels: [{name: bucket, size: 8, decoders: [{name: uint}]}]\n")
                .find("c.yaml:3:7: metrics.histograms[0]: bucket 1024 makes le inf"),
            std::string::npos);
  EXPECT_NE(load("metrics:\n  histograms:\n    - name: h\n      bucket_type: linear\n      bucket_min: 0\n      bucket_max: 3\n"
                 "      bucket_multiplier: -1\n      labels: [{name: bucket, size: 8, decoders: [{name: uint}]}]\n")
                .find("bounds must be finite and ascending"),
            std::string::npos);
  EXPECT_NE(load("metrics:\n  counters:\n    - name: a\n      labels: [{name: k, size: -1, decoders: [{name: uint}]}]\n")
                .find("c.yaml:4:"),
            std::string::npos);
}

}  // namespace
}  // namespace bpfex::engine
