#include "export/http_server.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <chrono>
#include <thread>
#include <vector>

#include "metrics/exposition.h"

namespace bpfex::exporter {
namespace {

struct Reply {
  long code = 0;
  std::string body;
  std::string headers;
};

size_t collect(char* p, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}

Reply fetch(uint16_t port, const std::string& path, std::vector<std::string> headers = {},
            const char* method = "GET") {
  CURL* c = curl_easy_init();
  Reply r;
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_slist* h = nullptr;
  for (const auto& x : headers) h = curl_slist_append(h, x.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  if (std::string(method) == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  else curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  EXPECT_EQ(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.code);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return r;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = registry_.family({.name = "demo_total", .help = "demo", .type = metrics::MetricType::kCounter,
                               .label_names = {"k"}});
    for (int i = 0; i < 1000; ++i) (void)f.value()->set({std::to_string(i)}, i);
    std::vector<Route> routes;
    routes.push_back({"/hello", {"GET"}, [](const HttpRequest& req) {
                        return HttpResponse{200, "text/plain", "hi " + std::string(req.query("who")), {}};
                      }});
    routes.push_back({"/echo", {"POST"}, [](const HttpRequest& req) {
                        return HttpResponse{200, "text/plain", std::string(req.body), {}};
                      }});
    routes.push_back({"/boom", {"GET"}, [](const HttpRequest&) -> HttpResponse {
                        throw std::runtime_error("handler failed");
                      }});
    auto s = HttpServer::start({.listen = "127.0.0.1:0"}, publisher_, std::move(routes));
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(s).value();
  }
  void publishAll() {
    metrics::VariantSet all{};
    for (auto& f : all) f = {true, true};
    publisher_.publish(metrics::renderSnapshot(registry_, all, 1, nullptr));
  }
  metrics::Registry registry_;
  metrics::Publisher publisher_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, MetricsIs503UntilTheFirstSnapshot) {
  EXPECT_EQ(fetch(server_->port(), "/metrics").code, 503);
  publishAll();
  EXPECT_EQ(fetch(server_->port(), "/metrics").code, 200);
}

TEST_F(HttpServerTest, ServesTheNegotiatedFormat) {
  publishAll();
  Reply text = fetch(server_->port(), "/metrics");
  EXPECT_NE(text.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"), std::string::npos);
  EXPECT_EQ(text.body, publisher_.current()->body(metrics::Format::kText004, false)->view());
  Reply om = fetch(server_->port(), "/metrics", {"Accept: application/openmetrics-text;version=1.0.0"});
  EXPECT_NE(om.headers.find("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
            std::string::npos);
  EXPECT_TRUE(om.body.ends_with("# EOF\n"));
}

TEST_F(HttpServerTest, GzipWhenAsked) {
  publishAll();
  Reply gz = fetch(server_->port(), "/metrics", {"Accept-Encoding: gzip"});
  EXPECT_NE(gz.headers.find("Content-Encoding: gzip"), std::string::npos);
  EXPECT_EQ(gz.body, publisher_.current()->body(metrics::Format::kText004, true)->view());
  Reply plain = fetch(server_->port(), "/metrics");
  EXPECT_EQ(plain.headers.find("Content-Encoding"), std::string::npos);
}

TEST_F(HttpServerTest, HeadHasNoBody) {
  publishAll();
  Reply r = fetch(server_->port(), "/metrics", {}, "HEAD");
  EXPECT_EQ(r.code, 200);
  EXPECT_TRUE(r.body.empty());
  const size_t len = publisher_.current()->body(metrics::Format::kText004, false)->size();
  EXPECT_NE(r.headers.find("Content-Length: " + std::to_string(len)), std::string::npos);
}

TEST_F(HttpServerTest, UnknownPathIs404AndWrongMethodIs405) {
  publishAll();
  Reply nf = fetch(server_->port(), "/nope");
  EXPECT_EQ(nf.code, 404);
  EXPECT_NE(nf.body.find("/nope"), std::string::npos);
  Reply na = fetch(server_->port(), "/metrics", {}, "POST");
  EXPECT_EQ(na.code, 405);
  EXPECT_NE(na.headers.find("Allow: GET, HEAD"), std::string::npos);
  EXPECT_EQ(fetch(server_->port(), "/echo", {}, "GET").code, 405);
}

TEST_F(HttpServerTest, RoutesGetQueryAndBody) {
  EXPECT_EQ(fetch(server_->port(), "/hello?who=ops").body, "hi ops");
  CURL* c = curl_easy_init();
  std::string body;
  const std::string url = "http://127.0.0.1:" + std::to_string(server_->port()) + "/echo";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, "payload-123");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  ASSERT_EQ(curl_easy_perform(c), CURLE_OK);
  curl_easy_cleanup(c);
  EXPECT_EQ(body, "payload-123");
}

TEST_F(HttpServerTest, HandlerExceptionIs500NotACrash) {
  Reply r = fetch(server_->port(), "/boom");
  EXPECT_EQ(r.code, 500);
  EXPECT_NE(r.body.find("handler failed"), std::string::npos);
}

TEST_F(HttpServerTest, ConcurrentScrapesAllSucceedAndAreCounted) {
  publishAll();
  const std::string want(publisher_.current()->body(metrics::Format::kText004, false)->view());
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        // Publishing while scraping: old snapshots stay valid for in-flight responses.
        if (i % 5 == 0) publishAll();
        Reply r = fetch(server_->port(), "/metrics");
        if (r.code == 200 && r.body == want) ++ok;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 200);
  // A scrape is counted when libmicrohttpd reports the response complete,
  // which can come just after the client has read the last byte.
  HttpStats s = server_->stats();
  for (int i = 0; i < 200 && s.scrape_count < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s = server_->stats();
  }
  EXPECT_EQ(s.scrape_count, 200u);
  uint64_t in_buckets = 0;
  for (uint64_t b : s.scrape_buckets) in_buckets += b;
  EXPECT_EQ(in_buckets, 200u);
  EXPECT_EQ(s.scrape_bytes, 200u * want.size());
}

TEST(ListenAddress, Parses) {
  EXPECT_EQ(parseListenAddress("127.0.0.1:9479").value(), std::make_pair(std::string("127.0.0.1"), uint16_t{9479}));
  EXPECT_EQ(parseListenAddress("[::1]:80").value().first, "::1");
  EXPECT_EQ(parseListenAddress(":9479").value().first, "0.0.0.0");
  EXPECT_FALSE(parseListenAddress("127.0.0.1").ok());
  EXPECT_FALSE(parseListenAddress("127.0.0.1:70000").ok());
  EXPECT_FALSE(parseListenAddress("127.0.0.1:http").ok());
}

TEST(HttpServer, PortInUseIsAClearError) {
  metrics::Publisher p;
  auto a = HttpServer::start({.listen = "127.0.0.1:0"}, p, {});
  ASSERT_TRUE(a.ok());
  auto b = HttpServer::start({.listen = "127.0.0.1:" + std::to_string(a.value()->port())}, p, {});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message().find("listen on 127.0.0.1:"), std::string::npos);
}

}  // namespace
}  // namespace bpfex::exporter
