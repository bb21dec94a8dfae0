#include "export/push_client.h"

#include <gtest/gtest.h>

#include "export/periodic_push.h"

namespace bpfex::exporter {
namespace {

TEST(PushClient, GroupingPathEncodesAsThePushgatewayDefines) {
  EXPECT_EQ(groupingPath("scan", {}).value(), "/metrics/job/scan");
  EXPECT_EQ(groupingPath("nightly scan", {{"path", "/var/tmp"}, {"team", "sé cu"}, {"empty", ""}}).value(),
            "/metrics/job/nightly%20scan/path@base64/L3Zhci90bXA/team/s%C3%A9%20cu/empty@base64/=");
  EXPECT_EQ(groupingPath("a/b", {}).value(), "/metrics/job@base64/YS9i");
  EXPECT_FALSE(groupingPath("", {}).ok());
  EXPECT_FALSE(groupingPath("j", {{"bad-name", "x"}}).ok());
  EXPECT_FALSE(groupingPath("j", {{"job", "x"}}).ok());
}

TEST(PushClient, RefusesAGatewayWithoutScheme) {
  auto r = push({.gateway = "127.0.0.1:9091", .job = "j"}, PushMethod::kReplace, "");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("must start with http://"), std::string::npos);
}

TEST(PeriodicPush, FilterKeepsWholeFamilies) {
  const std::string text =
      "# HELP a_total A\n# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 2\n"
      "# TYPE process_open_fds gauge\nprocess_open_fds 7\n"
      "# HELP h H\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n";
  std::vector<std::regex> p = {std::regex("process_.*", std::regex::extended), std::regex("h", std::regex::extended)};
  EXPECT_EQ(filterFamilies(text, p),
            "# TYPE process_open_fds gauge\nprocess_open_fds 7\n"
            "# HELP h H\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n");
  EXPECT_EQ(filterFamilies(text, {}), text);
  EXPECT_EQ(filterFamilies(text, {std::regex("a", std::regex::extended)}), "");  // whole-name matches only
}

}  // namespace
}  // namespace bpfex::exporter
