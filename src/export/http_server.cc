#include "export/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <charconv>
#include <cstdarg>
#include <cstring>
#include <mutex>
#include <utility>

#include "base/clock.h"
#include "base/log.h"
#include "metrics/exposition.h"

namespace bpfex::exporter {

using base::Error;
using base::Result;

namespace {
constexpr size_t kMaxBody = 1 << 20;

// Each connection is a descriptor: lift the soft limit towards the hard one
// so that max_connections can be reached (systemd's default soft limit is
// 1024; its hard limit 512 Ki).
void raiseFdLimit(unsigned connections) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t want = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(connections) + 256);
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = want;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) BPFEX_LOG_WARN("http: cannot raise the open-file limit to {}", want);
}

// libmicrohttpd logs per connection (a plain-HTTP client on a TLS port, a
// reset mid-request): a client could fill the log. At most 20 lines per
// minute; the rest are counted and reported with the next line let through.
void mhdLog(void* /*cls*/, const char* fmt, va_list ap) {
  static std::mutex mu;
  static int64_t window_start = 0;
  static unsigned in_window = 0;
  static uint64_t suppressed = 0;
  uint64_t dropped_before = 0;
  {
    std::lock_guard lock(mu);
    const int64_t now = base::monotonicNanos();
    if (now - window_start > 60'000'000'000) {
      window_start = now;
      in_window = 0;
    }
    if (++in_window > 20) {
      ++suppressed;
      return;
    }
    dropped_before = std::exchange(suppressed, 0);
  }
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = std::strlen(buf);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
  if (dropped_before > 0) BPFEX_LOG_WARN("http: {} (and {} earlier messages suppressed)", buf, dropped_before);
  else BPFEX_LOG_WARN("http: {}", buf);
}
}  // namespace

struct HttpServer::RequestState {
  int64_t start_ns;
  size_t route = 0;
  bool is_scrape = false;
  bool too_large = false;
  bool refused = false;  // the guard answered (401/403/429)
  size_t bytes = 0;
  std::string body;
};

struct HttpServer::Callbacks {
  static MHD_Result onRequest(void* cls, MHD_Connection* c, const char* url, const char* method,
                              const char* /*version*/, const char* upload_data,
                              size_t* upload_size, void** con_cls) {
    auto* self = static_cast<HttpServer*>(cls);
    if (*con_cls == nullptr) {
      auto* fresh = new RequestState{base::monotonicNanos()};
      *con_cls = fresh;
      // Every endpoint: the guard (when a web config is given) decides before
      // a body is read or a route runs. Without one, nothing is in the way.
      const bool preflight = isPreflight(self, c, method);
      if (!self->guard_) return preflight ? answerPreflight(self, c, fresh, url) : MHD_YES;
      const char* authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
      WebGuard::Verdict v = self->guard_->decide(c, authz ? authz : "");
      // A browser's preflight never carries credentials (Fetch): it is
      // answered without them, but not past a rate limit or a missing
      // client certificate.
      if (preflight && (v.status == 0 || v.status == 401)) return answerPreflight(self, c, fresh, url);
      if (v.status != 0) {
        fresh->route = self->routeIndex(url);
        fresh->refused = true;
        return queue(self, c, fresh, {v.status, "text/plain; charset=utf-8", std::move(v.body), std::move(v.headers)});
      }
      return MHD_YES;
    }
    auto* st = static_cast<RequestState*>(*con_cls);
    if (st->refused) {  // answered already; discard what the client still sends
      *upload_size = 0;
      return MHD_YES;
    }
    if (*upload_size != 0) {
      if (st->body.size() + *upload_size > kMaxBody) st->too_large = true;
      else st->body.append(upload_data, *upload_size);
      *upload_size = 0;
      return MHD_YES;
    }
    const std::string_view path(url), m(method);
    if (st->too_large) {
      st->route = self->routes_.size() + 1;
      return queue(self, c, st, {413, "text/plain; charset=utf-8", "request body over 1 MiB\n", {}});
    }
    st->route = self->routeIndex(path);
    if (st->route == 0) {
      if (m != "GET" && m != "HEAD") return methodNotAllowed(self, c, st, "GET, HEAD");
      return serveMetrics(self, c, st);
    }
    if (st->route > self->routes_.size())
      return queue(self, c, st,
                   {404, "text/plain; charset=utf-8",
                    "404 not found: " + std::string(path) + "\nsee / for the endpoints bpfex serves\n", {}});
    const Route& r = self->routes_[st->route - 1];
    bool allowed = false;
    std::string allow;
    for (const auto& rm : r.methods) {
      allowed = allowed || rm == m || (rm == "GET" && m == "HEAD");
      allow += (allow.empty() ? "" : ", ") + rm;
      if (rm == "GET") allow += ", HEAD";
    }
    if (!allowed) return methodNotAllowed(self, c, st, allow);
    HttpRequest req;
    req.method = m;
    req.path = path;
    req.body = st->body;
    req.header = [c](std::string_view k) {
      const char* v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, std::string(k).c_str());
      return v ? std::string_view(v) : std::string_view();
    };
    req.query = [c](std::string_view k) {
      const char* v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, std::string(k).c_str());
      return v ? std::string_view(v) : std::string_view();
    };
    HttpResponse resp;
    try {
      resp = r.handler(req);
    } catch (const std::exception& e) {
      resp = {500, "text/plain; charset=utf-8", std::string("internal error: ") + e.what() + "\n", {}};
    }
    return queue(self, c, st, resp);
  }

  // Every response: CORS when enabled, and http_server_config.headers (a
  // snapshot shared by responses, not a copy each).
  static void addGuardHeaders(const HttpServer* self, MHD_Response* resp) {
    if (!self->opts_.cors_origin.empty()) {
      MHD_add_response_header(resp, "Access-Control-Allow-Origin", self->opts_.cors_origin.c_str());
      if (self->opts_.cors_origin != "*") MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    }
    if (!self->guard_) return;
    const auto headers = self->guard_->headers();
    for (const auto& [k, v] : *headers) MHD_add_response_header(resp, k.c_str(), v.c_str());
  }

  // A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method,
  // when CORS is enabled.
  static bool isPreflight(const HttpServer* self, MHD_Connection* c, const char* method) {
    return !self->opts_.cors_origin.empty() && std::string_view(method) == "OPTIONS" &&
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin") != nullptr &&
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Access-Control-Request-Method") != nullptr;
  }
  static MHD_Result answerPreflight(HttpServer* self, MHD_Connection* c, RequestState* st, const char* url) {
    st->route = self->routeIndex(url);
    st->refused = true;  // answered: what the client still sends is discarded
    std::string methods = "GET, HEAD, OPTIONS";
    if (st->route > 0 && st->route <= self->routes_.size())
      for (const auto& m : self->routes_[st->route - 1].methods)
        if (m != "GET") methods += ", " + m;
    return queue(self, c, st,
                 {204, "text/plain; charset=utf-8", "", {{"Access-Control-Allow-Methods", methods},
                                                          {"Access-Control-Allow-Headers",
                                                           "Accept, Accept-Encoding, Authorization, Content-Type"},
                                                          {"Access-Control-Max-Age", "600"}}});
  }

  // The response phase has its own timeout (a client that stops reading).
  static void startWriting(const HttpServer* self, MHD_Connection* c) {
    if (self->opts_.write_timeout_seconds > 0 && self->opts_.write_timeout_seconds != self->opts_.timeout_seconds)
      MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, self->opts_.write_timeout_seconds);
  }

  static MHD_Result methodNotAllowed(HttpServer* self, MHD_Connection* c, RequestState* st,
                                     const std::string& allow) {
    return queue(self, c, st,
                 {405, "text/plain; charset=utf-8", "405 method not allowed; allowed: " + allow + "\n",
                  {{"Allow", allow}}});
  }

  // How long a scrape waits for a variant not yet rendered: a render at a
  // million series takes ~1 s on this 2-core machine (BENCHMARKS.md), and a
  // tick may be running when the request comes.
  static constexpr std::chrono::milliseconds kLateVariantWait{5000};

  static MHD_Result serveMetrics(HttpServer* self, MHD_Connection* c, RequestState* st) {
    auto snap = self->publisher_.current();
    if (!snap)
      return queue(self, c, st,
                   {503, "text/plain; charset=utf-8",
                    "503 not ready: the first collection tick has not finished\n", {}});
    const char* accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    const char* enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    const metrics::Format want = metrics::negotiateFormat(accept ? accept : "");
    const bool gzip_ok = self->opts_.gzip && enc != nullptr && metrics::acceptsGzip(enc);
    self->publisher_.noteDemand(want, gzip_ok, st->start_ns);
    // The first scrape of a variant waits for the engine to render it (once;
    // then every tick renders it while it is asked for). After the wait, the
    // closest rendered variant, as before.
    if (snap->body(want, gzip_ok) == nullptr)
      snap = self->publisher_.awaitVariant(want, gzip_ok, st->start_ns, kLateVariantWait);
    const metrics::Variant v = snap->choose(want, gzip_ok);
    const metrics::Buffer* body = snap->body(v.format, v.gzip);
    if (body == nullptr)  // an empty snapshot (no format rendered): not expected, never a crash
      return queue(self, c, st, {503, "text/plain; charset=utf-8", "503 no exposition rendered yet\n", {}});
    // The response points into the snapshot; the holder keeps it alive until
    // libmicrohttpd frees the response.
    auto* holder = new std::shared_ptr<const metrics::Snapshot>(std::move(snap));
    MHD_Response* resp = MHD_create_response_from_buffer_with_free_callback_cls(
        body->size(), const_cast<char*>(body->data()),
        [](void* p) { delete static_cast<std::shared_ptr<const metrics::Snapshot>*>(p); }, holder);
    if (resp == nullptr) {
      delete holder;
      return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            std::string(metrics::contentType(v.format)).c_str());
    if (v.gzip) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding");
    addGuardHeaders(self, resp);
    startWriting(self, c);
    st->is_scrape = true;
    st->bytes = body->size();
    const MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    self->count(0, 200);
    return rc;
  }

  static MHD_Result queue(HttpServer* self, MHD_Connection* c, RequestState* st,
                          const HttpResponse& r) {
    MHD_Response* resp = MHD_create_response_from_buffer(
        r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
    if (resp == nullptr) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
    for (const auto& [k, v] : r.headers) MHD_add_response_header(resp, k.c_str(), v.c_str());
    addGuardHeaders(self, resp);
    startWriting(self, c);
    const MHD_Result rc = MHD_queue_response(c, static_cast<unsigned>(r.status), resp);
    MHD_destroy_response(resp);
    self->count(st->route, r.status);
    return rc;
  }

  static void onCompleted(void* cls, MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode toe) {
    auto* self = static_cast<HttpServer*>(cls);
    auto* st = static_cast<RequestState*>(*con_cls);
    // Back to the read timeout while the connection waits for its next request.
    if (c != nullptr && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && self->opts_.write_timeout_seconds > 0 &&
        self->opts_.write_timeout_seconds != self->opts_.timeout_seconds)
      MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, self->opts_.timeout_seconds);
    if (st == nullptr) return;
    if (st->is_scrape && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
      const auto ns = static_cast<uint64_t>(base::monotonicNanos() - st->start_ns);
      const double secs = static_cast<double>(ns) / 1e9;
      size_t b = 0;
      while (b < HttpStats::kBuckets.size() && secs > HttpStats::kBuckets[b]) ++b;
      self->scrape_buckets_[b].fetch_add(1, std::memory_order_relaxed);
      self->scrape_ns_sum_.fetch_add(ns, std::memory_order_relaxed);
      self->scrape_count_.fetch_add(1, std::memory_order_relaxed);
      self->scrape_bytes_.fetch_add(st->bytes, std::memory_order_relaxed);
    }
    delete st;
    *con_cls = nullptr;
  }
};

Result<std::pair<std::string, uint16_t>> parseListenAddress(std::string_view listen) {
  std::string host;
  std::string_view port;
  if (!listen.empty() && listen.front() == '[') {
    const size_t close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      return Error::msg("listen address \"" + std::string(listen) + "\" is not [ipv6]:port");
    host = std::string(listen.substr(1, close - 1));
    port = listen.substr(close + 2);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos)
      return Error::msg("listen address \"" + std::string(listen) + "\" is not host:port");
    host = std::string(listen.substr(0, colon));
    port = listen.substr(colon + 1);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p > 65535 || port.empty())
    return Error::msg("listen address \"" + std::string(listen) + "\": port \"" + std::string(port) +
                      "\" is not a number from 0 to 65535");
  if (host.empty()) host = "0.0.0.0";
  return std::make_pair(host, static_cast<uint16_t>(p));
}

size_t HttpServer::routeIndex(std::string_view path) const {
  if (path == opts_.metrics_path) return 0;
  for (size_t i = 0; i < routes_.size(); ++i)
    if (routes_[i].path == path) return i + 1;
  return routes_.size() + 1;
}

HttpServer::HttpServer(HttpOptions opts, const metrics::Publisher& publisher, std::vector<Route> routes)
    : opts_(std::move(opts)), publisher_(publisher), routes_(std::move(routes)) {
  counts_ = std::make_unique<std::array<std::atomic<uint64_t>, kCodes.size()>[]>(routes_.size() + 2);
}

HttpServer::~HttpServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(HttpOptions opts,
                                                      const metrics::Publisher& publisher,
                                                      std::vector<Route> routes) {
  auto hp = parseListenAddress(opts.listen);
  if (!hp) return std::move(hp).error();
  const auto& [host, port] = hp.value();

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* ai = nullptr;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &ai); rc != 0)
    return Error::msg("resolve listen host \"" + host + "\": " + gai_strerror(rc));
  sockaddr_storage addr{};
  std::memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;  // epoll on Linux
  if (addr.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(port);
    flags |= MHD_USE_IPv6;
  } else {
    reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(port);
  }

  std::unique_ptr<HttpServer> self(new HttpServer(std::move(opts), publisher, std::move(routes)));
  if (self->opts_.web.configured()) {
    auto guard = WebGuard::create(self->opts_.web);
    if (!guard) return std::move(guard).error();
    self->guard_ = std::move(guard).value();
  }
  raiseFdLimit(self->opts_.max_connections);

  const unsigned threads = std::max(1u, self->opts_.threads);
  const bool tls = self->tls();
  const std::string priorities = tls ? self->guard_->tlsPriorities() : std::string();
  const std::string ca = tls ? self->guard_->clientCaAtStart() : std::string();
  std::vector<MHD_OptionItem> o = {
      {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(&mhdLog), nullptr},
      {MHD_OPTION_SOCK_ADDR, 0, reinterpret_cast<sockaddr*>(&addr)},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&Callbacks::onCompleted), self.get()},
      {MHD_OPTION_CONNECTION_LIMIT, self->opts_.max_connections, nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, self->opts_.timeout_seconds, nullptr},
      // A deep backlog: a burst of connects waits for accept, not for a SYN retry.
      {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, nullptr},
  };
  if (self->opts_.max_header_bytes > 0)
    // The connection's memory pool holds the request line and headers (and
    // the response's headers, which bpfex keeps small).
    o.push_back({MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(self->opts_.max_header_bytes), nullptr});
  if (self->opts_.max_connections_per_ip > 0)
    o.push_back({MHD_OPTION_PER_IP_CONNECTION_LIMIT, self->opts_.max_connections_per_ip, nullptr});
  if (threads > 1) o.push_back({MHD_OPTION_THREAD_POOL_SIZE, threads, nullptr});
  if (tls) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
      return Error::msg("web config " + self->opts_.web.path + ": TLS asked for, but libmicrohttpd was built without it");
    flags |= MHD_USE_TLS;
    o.push_back({MHD_OPTION_HTTPS_CERT_CALLBACK, 0, certificateCallback()});
    o.push_back({MHD_OPTION_HTTPS_PRIORITIES, 0, const_cast<char*>(priorities.c_str())});
    // libmicrohttpd asks clients for a certificate only when given a CA; the
    // guard verifies what they send against the current one.
    if (!ca.empty()) o.push_back({MHD_OPTION_HTTPS_MEM_TRUST, 0, const_cast<char*>(ca.c_str())});
  }
  o.push_back({MHD_OPTION_END, 0, nullptr});
  self->daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &Callbacks::onRequest, self.get(),
                                   MHD_OPTION_ARRAY, o.data(), MHD_OPTION_END);
  if (self->daemon_ == nullptr)
    return Error(EADDRINUSE, "listen on " + self->opts_.listen +
                                 ": libmicrohttpd could not start (address in use or not permitted" +
                                 (tls ? ", or the TLS settings were refused" : "") + ")");
  const MHD_DaemonInfo* info = MHD_get_daemon_info(self->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  self->port_ = info ? info->port : port;
  return self;
}

void HttpServer::count(size_t route_idx, int code) {
  for (size_t i = 0; i < kCodes.size(); ++i)
    if (kCodes[i] == code) {
      counts_[route_idx][i].fetch_add(1, std::memory_order_relaxed);
      return;
    }
}

HttpStats HttpServer::stats() const {
  HttpStats s;
  for (size_t r = 0; r < routes_.size() + 2; ++r) {
    const std::string name = r == 0 ? opts_.metrics_path : r <= routes_.size() ? routes_[r - 1].path : "other";
    for (size_t i = 0; i < kCodes.size(); ++i) {
      const uint64_t n = counts_[r][i].load(std::memory_order_relaxed);
      if (n) s.requests.push_back({name, kCodes[i], n});
    }
  }
  for (size_t b = 0; b < scrape_buckets_.size(); ++b)
    s.scrape_buckets[b] = scrape_buckets_[b].load(std::memory_order_relaxed);
  s.scrape_seconds_sum = static_cast<double>(scrape_ns_sum_.load(std::memory_order_relaxed)) / 1e9;
  s.scrape_count = scrape_count_.load(std::memory_order_relaxed);
  s.scrape_bytes = scrape_bytes_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace bpfex::exporter
