#include "export/http_client.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "export/http_server.h"
#include "metrics/snapshot.h"

namespace bpfex::exporter {
namespace {

// Two servers on loopback: `a` redirects to `b`; both record what
// Authorization header reached them.
struct Peers {
  metrics::Publisher pub;
  std::shared_ptr<std::string> auth_a = std::make_shared<std::string>("unset");
  std::shared_ptr<std::string> auth_b = std::make_shared<std::string>("unset");
  std::unique_ptr<HttpServer> a, b;
  Peers() {
    b = HttpServer::start({.listen = "127.0.0.1:0"}, pub,
                          {{"/landing", {"GET"}, [ab = auth_b](const HttpRequest& r) {
                              *ab = std::string(r.header("Authorization"));
                              return HttpResponse{200, "text/plain", "landed", {}};
                            }},
                           {"/big", {"GET"}, [](const HttpRequest&) {
                              return HttpResponse{200, "text/plain", std::string(100000, 'x'), {}};
                            }}})
            .value();
    const std::string to = "http://localhost:" + std::to_string(b->port()) + "/landing";
    a = HttpServer::start({.listen = "127.0.0.1:0"}, pub,
                          {{"/go", {"GET"}, [aa = auth_a, to](const HttpRequest& r) {
                              *aa = std::string(r.header("Authorization"));
                              return HttpResponse{302, "text/plain", "", {{"Location", to}}};
                            }}})
            .value();
  }
  std::string url(const HttpServer& s, const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(s.port()) + path;
  }
};

TEST(HttpClient, RefusesSchemesOtherThanHttp) {
  for (const char* u : {"file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1/", "dict://127.0.0.1/"}) {
    auto r = httpRequest({}, {.method = "GET", .url = u, .body = {}, .headers = {}});
    ASSERT_FALSE(r.ok()) << u;
    EXPECT_NE(r.error().message().find("only http:// and https://"), std::string::npos);
  }
}

TEST(HttpClient, CredentialsStayWithTheirHostAcrossARedirect) {
  Peers p;
  auto r = httpRequest({.username = "u", .password = "p", .follow_redirects = true},
                       {.method = "GET", .url = p.url(*p.a, "/go"), .body = {}, .headers = {}});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "landed");
  EXPECT_EQ(*p.auth_a, "Basic dTpw");  // u:p, to the host it is for
  EXPECT_EQ(*p.auth_b, "");            // not to the host it was redirected to
}

TEST(HttpClient, DoesNotFollowRedirectsUnlessAsked) {
  Peers p;
  auto r = httpRequest({}, {.method = "GET", .url = p.url(*p.a, "/go"), .body = {}, .headers = {}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(*p.auth_b, "unset");
}

TEST(HttpClient, CapsTheReplySize) {
  Peers p;
  auto r = httpRequest({.max_response_bytes = 1000}, {.method = "GET", .url = p.url(*p.b, "/big"), .body = {}, .headers = {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), E2BIG);
  auto ok = httpRequest({}, {.method = "GET", .url = p.url(*p.b, "/big"), .body = {}, .headers = {}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->body.size(), 100000u);
}

TEST(HttpClient, TimesOutOnAPeerThatNeverAnswers) {
  // A listening socket nobody accepts from: connect succeeds (backlog), no reply.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  auto r = httpRequest({.timeout_seconds = 0.3},
                       {.method = "GET", .url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/",
                        .body = {}, .headers = {}});
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ETIMEDOUT);
}

}  // namespace
}  // namespace bpfex::exporter
