// Expected strings are Prometheus' own (prometheus-semantics.md §1.5, verified
// there against promtool and template_test.go).
#include "engine/alert_template.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "base/clock.h"

namespace bpfex::engine {
namespace {

std::string expand(const std::string& t, double value, std::map<std::string, std::string> labels = {}) {
  auto tpl = AlertTemplate::parse(t);
  EXPECT_TRUE(tpl.ok()) << (tpl.ok() ? "" : tpl.error().message());
  std::map<std::string, std::string> ext = {{"dc", "dc1"}};
  return tpl.ok() ? tpl->expand({&labels, &ext, value}) : "";
}

TEST(AlertTemplate, ValuePrintsLikeGo) {
  EXPECT_EQ(expand("{{ $value }}", 123456), "123456");
  EXPECT_EQ(expand("{{ $value }}", 1234567), "1.234567e+06");
  EXPECT_EQ(expand("{{ $value }}", 1e-4), "0.0001");
  EXPECT_EQ(expand("{{ $value }}", 1e-5), "1e-05");
  EXPECT_EQ(expand("{{ .Value }}", 0.632), "0.632");
}

TEST(AlertTemplate, Humanize) {
  EXPECT_EQ(humanize(1234567), "1.235M");
  EXPECT_EQ(humanize(0.12), "120m");
  EXPECT_EQ(humanize(0), "0");
  EXPECT_EQ(humanize(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(humanize(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(humanize(std::nan("")), "NaN");
  EXPECT_EQ(humanize(1000), "1k");
  EXPECT_EQ(humanize(12345), "12.35k");
}

TEST(AlertTemplate, Humanize1024) {
  EXPECT_EQ(humanize1024(1048576), "1Mi");
  EXPECT_EQ(humanize1024(1234567), "1.177Mi");
  EXPECT_EQ(humanize1024(0.5), "0.5");
  EXPECT_EQ(humanize1024(1), "1");
}

TEST(AlertTemplate, HumanizeDuration) {
  EXPECT_EQ(humanizeDuration(0), "0s");
  EXPECT_EQ(humanizeDuration(1), "1s");
  EXPECT_EQ(humanizeDuration(60), "1m 0s");
  EXPECT_EQ(humanizeDuration(1.63119e+179), "1.631e+179s");  // fuzzer: beyond int64, was undefined
  EXPECT_EQ(humanizeDuration(3600), "1h 0m 0s");
  EXPECT_EQ(humanizeDuration(86400), "1d 0h 0m 0s");
  EXPECT_EQ(humanizeDuration(3725), "1h 2m 5s");
  EXPECT_EQ(humanizeDuration(899.99), "14m 59s");
  EXPECT_EQ(humanizeDuration(0.1), "100ms");
  EXPECT_EQ(humanizeDuration(1e-4), "100us");
  EXPECT_EQ(humanizeDuration(1.2345), "1.234s");
  EXPECT_EQ(humanizeDuration(-60), "-1m 0s");
}

TEST(AlertTemplate, HumanizeTimestamp) {
  // Prometheus' own template test value; it keeps milliseconds.
  EXPECT_EQ(expand("{{ $value | humanizeTimestamp }}", 1435065584.128), "2015-06-23 13:19:44.128 +0000 UTC");
  EXPECT_EQ(expand("{{ $value | humanizeTimestamp }}", 0), "1970-01-01 00:00:00 +0000 UTC");
  EXPECT_EQ(expand("{{ $value | humanizeTimestamp }}", -1.5), "1969-12-31 23:59:58.5 +0000 UTC");
}

TEST(AlertTemplate, Rfc3339AsTheApisWriteIt) {
  EXPECT_EQ(base::rfc3339(1.5, 3), "1970-01-01T00:00:01.500Z");       // Alertmanager: milliseconds
  EXPECT_EQ(base::rfc3339(1.9996, 3), "1970-01-01T00:00:02.000Z");    // rounding carries into the second
  EXPECT_EQ(base::rfc3339(1.25), "1970-01-01T00:00:01.25Z");          // Prometheus: trailing zeros trimmed
  EXPECT_EQ(base::rfc3339(2), "1970-01-01T00:00:02Z");
  EXPECT_EQ(base::rfc3339(0), "0001-01-01T00:00:00Z");                // Go's zero time
}

TEST(AlertTemplate, HumanizePercentage) {
  EXPECT_EQ(humanizePercentage(0.1234), "12.34%");
  EXPECT_EQ(humanizePercentage(-0.22222), "-22.22%");
}

TEST(AlertTemplate, LabelsPipelinesAndTrim) {
  const std::map<std::string, std::string> l = {{"hook", "xdp"}, {"role", "guest"}};
  EXPECT_EQ(expand("{{ $labels.hook }}에서 패킷 드롭률이 5%를 초과했습니다.", 0, l), "xdp에서 패킷 드롭률이 5%를 초과했습니다.");
  EXPECT_EQ(expand("x{{ $labels.nope }}y", 0, l), "xy");  // missingkey=zero
  EXPECT_EQ(expand("높은 패킷 드롭률 감지 ({{ $value | humanizePercentage }})", 0.0712), "높은 패킷 드롭률 감지 (7.12%)");
  EXPECT_EQ(expand("{{ .Labels.role | toUpper }} in {{ $externalLabels.dc }}", 0, l), "GUEST in dc1");
  EXPECT_EQ(expand("a  {{- $labels.hook -}}  b", 0, l), "axdpb");
  EXPECT_EQ(expand("{{ \"literal\" }}", 0), "literal");
}

TEST(AlertTemplate, UnknownFunctionsAndActionsFailToParse) {
  auto a = AlertTemplate::parse("{{ $value | humanise }}");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message().find("function \"humanise\" not defined"), std::string::npos);
  EXPECT_FALSE(AlertTemplate::parse("{{ if $value }}x{{ end }}").ok());
  EXPECT_FALSE(AlertTemplate::parse("{{ $value ").ok());
  EXPECT_FALSE(AlertTemplate::parse("{{ foo }}").ok());
}

TEST(AlertTemplate, ARuntimeProblemShowsInTheText) {
  // Prometheus: the alert still fires; the text says what went wrong.
  EXPECT_EQ(expand("{{ $labels.hook | humanize }}", 0, {{"hook", "xdp"}}),
            "<error expanding template: humanize: \"xdp\" is not a number>");
}

}  // namespace
}  // namespace bpfex::engine
