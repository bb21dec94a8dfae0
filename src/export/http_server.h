// HttpServer: libmicrohttpd serving the published snapshot and a few routes.
//
// The metrics path never renders: it picks the rendered variant closest to
// what the request negotiated (Accept, Accept-Encoding), hands libmicrohttpd a
// pointer into the snapshot, and holds a reference until the response is
// freed. Other routes are handlers given at start; they run on HTTP threads
// and must be thread-safe.
//
// Limits (documented defaults, see docs/http.md): a thread pool of `threads`
// over epoll, at most `max_connections` at once (the file-descriptor limit is
// raised to fit), `timeout_seconds` of inactivity per connection, request
// bodies up to 1 MiB. Connections are event-driven, not a thread each: a
// client that sends half a request holds a few KiB of memory and no thread,
// so hundreds of them do not delay a scrape.
//
// Every request to every endpoint passes the WebGuard first (TLS client
// certificates, basic auth, rate limit; see web_guard.h), and every response
// carries the web config's headers.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "export/web_config.h"
#include "export/web_guard.h"
#include "metrics/snapshot.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace bpfex::exporter {

struct HttpOptions {
  std::string listen = "127.0.0.1:9479";
  std::string metrics_path = "/metrics";
  unsigned threads = 2;
  unsigned max_connections = 4096;
  unsigned max_connections_per_ip = 0;  // 0: no per-address limit
  // Read timeout: how long a connection may stay silent while a request
  // arrives, and between keep-alive requests.
  unsigned timeout_seconds = 30;
  // Write timeout: how long a response may make no progress (a client that
  // stops reading); 0: the read timeout.
  unsigned write_timeout_seconds = 0;
  // The request line and headers, at most (libmicrohttpd answers 431 past
  // it); 0: libmicrohttpd's default, 32 KiB.
  size_t max_header_bytes = 0;
  bool gzip = true;  // false: identity bodies only, whatever Accept-Encoding says
  // CORS: "" off; "*" or an origin: Access-Control-Allow-Origin on every
  // response, and preflight (OPTIONS) answered, before basic auth asks.
  std::string cors_origin;
  WebConfig web;  // TLS, basic auth, headers, rate limit (default: none)
};

struct HttpRequest {
  std::string_view method;
  std::string_view path;
  std::string_view body;
  std::function<std::string_view(std::string_view)> header;  // "" when absent
  std::function<std::string_view(std::string_view)> query;   // "" when absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct Route {
  std::string path;
  std::vector<std::string> methods;  // e.g. {"GET"}; HEAD is implied by GET
  HttpHandler handler;
};

// Counters kept by the server, read by the engine once per tick.
struct HttpStats {
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,     5};
  struct RouteCount {
    std::string route;
    int code;
    uint64_t count;
  };
  std::vector<RouteCount> requests;
  // /metrics scrapes: request start to last byte handed to the kernel.
  std::array<uint64_t, kBuckets.size() + 1> scrape_buckets{};
  double scrape_seconds_sum = 0;
  uint64_t scrape_count = 0;
  uint64_t scrape_bytes = 0;
};

class HttpServer {
 public:
  static base::Result<std::unique_ptr<HttpServer>> start(HttpOptions opts,
                                                         const metrics::Publisher& publisher,
                                                         std::vector<Route> routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }
  bool tls() const { return guard_ && guard_->tls(); }
  HttpStats stats() const;
  WebGuard::Stats guardStats() const { return guard_ ? guard_->stats() : WebGuard::Stats{}; }

 private:
  struct RequestState;
  static constexpr std::array<int, 10> kCodes = {200, 400, 401, 403, 404, 405, 413, 429, 500, 503};

  HttpServer(HttpOptions opts, const metrics::Publisher& publisher, std::vector<Route> routes);
  struct Callbacks;  // libmicrohttpd's C callbacks, defined in the .cc
  friend struct Callbacks;
  void count(size_t route_idx, int code);
  size_t routeIndex(std::string_view path) const;

  HttpOptions opts_;
  const metrics::Publisher& publisher_;
  std::vector<Route> routes_;
  std::unique_ptr<WebGuard> guard_;  // only with a web config
  MHD_Daemon* daemon_ = nullptr;
  uint16_t port_ = 0;

  // Route index: 0 = metrics path, 1..n = routes_, n+1 = anything else.
  std::unique_ptr<std::array<std::atomic<uint64_t>, kCodes.size()>[]> counts_;
  std::array<std::atomic<uint64_t>, HttpStats::kBuckets.size() + 1> scrape_buckets_{};
  std::atomic<uint64_t> scrape_ns_sum_{0};
  std::atomic<uint64_t> scrape_count_{0};
  std::atomic<uint64_t> scrape_bytes_{0};
};

// Splits "host:port" / "[v6]:port"; errors name the value.
base::Result<std::pair<std::string, uint16_t>> parseListenAddress(std::string_view listen);

}  // namespace bpfex::exporter
