#include "metrics/text_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace bpfex::metrics {
namespace {

std::string label(std::string_view v) {
  std::string s;
  appendEscapedLabelValue(s, v);
  return s;
}
std::string help(std::string_view v, bool om) {
  std::string s;
  appendEscapedHelp(s, v, om);
  return s;
}
std::string value(double v) {
  char buf[kMaxNumberChars];
  return std::string(buf, formatValue(buf, v));
}

TEST(TextFormat, LabelValuesEscapeBackslashQuoteAndNewline) {
  EXPECT_EQ(label("a\\b"), "a\\\\b");
  EXPECT_EQ(label("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(label("two\nlines"), "two\\nlines");
  EXPECT_EQ(label("tab\tstays"), "tab\tstays");
  EXPECT_EQ(label(""), "");
}

TEST(TextFormat, LabelValuesKeepValidUnicode) {
  EXPECT_EQ(label("지연시간 µs 中文 🚀"), "지연시간 µs 中文 🚀");
}

TEST(TextFormat, LabelValuesReplaceInvalidUtf8) {
  EXPECT_EQ(label(std::string("a\xff" "b")), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(label(std::string("\xC0\xAF")), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(label(std::string("\xED\xA0\x80")), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(label(std::string("ok\xE2\x82")), "ok\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated
}

TEST(TextFormat, HelpEscapingDiffersByFormat) {
  EXPECT_EQ(help("a \"quoted\" \\ path\nnext", false), "a \"quoted\" \\\\ path\\nnext");
  EXPECT_EQ(help("a \"quoted\" \\ path\nnext", true), "a \\\"quoted\\\" \\\\ path\\nnext");
}

TEST(TextFormat, ValuesUseIntegerDigitsWhenExact) {
  EXPECT_EQ(value(0), "0");
  EXPECT_EQ(value(1234567), "1234567");
  EXPECT_EQ(value(-42), "-42");
  EXPECT_EQ(value(9007199254740992.0), "9007199254740992");
}

TEST(TextFormat, ValuesSpellSpecialsAsPrometheus) {
  EXPECT_EQ(value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(value(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(TextFormat, ValuesRoundTripExactly) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint64_t> bits;
  for (int i = 0; i < 100000; ++i) {
    uint64_t b = bits(rng);
    double d;
    std::memcpy(&d, &b, sizeof d);
    if (!std::isfinite(d)) continue;
    const std::string s = value(d);
    EXPECT_EQ(std::strtod(s.c_str(), nullptr), d) << s;
  }
  EXPECT_EQ(value(0.1), "0.1");
  EXPECT_EQ(value(8932145.6), "8932145.6");
  EXPECT_EQ(value(1e300), "1e+300");
}

TEST(TextFormat, GoFloatMatchesStrconvG) {
  EXPECT_EQ(formatGoFloat(1), "1");
  EXPECT_EQ(formatGoFloat(0.5), "0.5");
  EXPECT_EQ(formatGoFloat(0.005), "0.005");
  EXPECT_EQ(formatGoFloat(100000), "100000");
  EXPECT_EQ(formatGoFloat(1e6), "1e+06");
  EXPECT_EQ(formatGoFloat(1234567), "1.234567e+06");
  EXPECT_EQ(formatGoFloat(1e-5), "1e-05");
  EXPECT_EQ(formatGoFloat(0.0001), "0.0001");
  EXPECT_EQ(formatGoFloat(2.5), "2.5");
  EXPECT_EQ(formatGoFloat(-3), "-3");
  EXPECT_EQ(formatGoFloat(std::numeric_limits<double>::infinity()), "+Inf");
}

TEST(TextFormat, CanonicalFloatMatchesOpenMetricsExamples) {
  // The examples of the OpenMetrics spec (prometheus-semantics.md §2.2).
  const std::pair<double, const char*> cases[] = {
      {0, "0.0"},         {0.001, "0.001"},   {0.01, "0.01"},     {0.1, "0.1"},
      {0.9, "0.9"},       {0.95, "0.95"},     {0.99, "0.99"},     {0.999, "0.999"},
      {1, "1.0"},         {1.7, "1.7"},       {10, "10.0"},       {1e-5, "1e-05"},
      {0.0001, "0.0001"}, {100000, "100000.0"}, {1e6, "1e+06"},   {1e10, "1e+10"},
  };
  for (const auto& [v, want] : cases) EXPECT_EQ(formatCanonicalFloat(v), want) << v;
  EXPECT_EQ(formatCanonicalFloat(std::numeric_limits<double>::infinity()), "+Inf");
}

TEST(TextFormat, NamesFollowTheGrammar) {
  EXPECT_TRUE(isValidMetricName("vpn_packets_total"));
  EXPECT_TRUE(isValidMetricName("job:rate5m"));
  EXPECT_TRUE(isValidMetricName("_x"));
  EXPECT_FALSE(isValidMetricName("9lives"));
  EXPECT_FALSE(isValidMetricName("has-dash"));
  EXPECT_FALSE(isValidMetricName(""));
  EXPECT_FALSE(isValidMetricName("my.metric"));
  EXPECT_TRUE(isValidLabelName("tunnel_id"));
  EXPECT_FALSE(isValidLabelName("__name__"));
  EXPECT_FALSE(isValidLabelName("a:b"));
  EXPECT_FALSE(isValidLabelName("0a"));
}

// With a precision: Go's %.4g, what Prometheus' humanize functions print
// (values from Go 1.21's strconv.FormatFloat(v, 'g', 4, 64)).
TEST(TextFormat, GoFloatWithAPrecision) {
  EXPECT_EQ(formatGoFloat(1234.5678, 4), "1235");
  EXPECT_EQ(formatGoFloat(123456, 4), "1.235e+05");
  EXPECT_EQ(formatGoFloat(100, 4), "100");
  EXPECT_EQ(formatGoFloat(0.00001234, 4), "1.234e-05");
  EXPECT_EQ(formatGoFloat(0.0001234, 4), "0.0001234");
  EXPECT_EQ(formatGoFloat(-2.5, 4), "-2.5");
  EXPECT_EQ(formatGoFloat(1e21), "1e+21");
  EXPECT_EQ(formatGoFloat(12345678), "1.2345678e+07");
  EXPECT_EQ(formatGoFloat(0.00001), "1e-05");
}

}  // namespace
}  // namespace bpfex::metrics
