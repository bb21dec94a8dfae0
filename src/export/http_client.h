// The one HTTP client: every outgoing request (Pushgateway, Alertmanager,
// push jobs' http.get) goes through httpRequest, so they share one set of
// TLS, auth, timeout and safety options instead of three drifting copies.
//
// Always: http and https only (also after a redirect), a whole-request
// timeout and a connect timeout, a cap on the response size, no signals
// (threads), TLS verification unless explicitly turned off, and credentials
// sent only to the host they are for (curl drops them on a redirect to
// another host).
//
// Thread safety: safe from any thread (a curl handle per call).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace bpfex::exporter {

struct HttpClientOptions {
  double timeout_seconds = 10;         // the whole request
  double connect_timeout_seconds = 5;  // capped by timeout_seconds
  std::string username, password;      // basic auth (both or neither)
  std::string ca_file, cert_file, key_file;
  bool insecure_skip_verify = false;
  bool follow_redirects = false;       // at most 5, http(s) only
  // TLS: the name the server's certificate must carry (and SNI), when it
  // is not the URL's host. The request still goes to the URL's address.
  std::string server_name;
  size_t max_response_bytes = 16u << 20;
  std::string user_agent = "bpfex";
  // Asked about once a second while a request runs; true abandons it
  // (ECANCELED): how a sender's shutdown deadline ends a request in flight.
  std::function<bool()> cancelled;
};

struct HttpCall {
  std::string method = "GET";
  std::string url;
  std::string body;  // sent for any method but GET/HEAD/DELETE
  std::vector<std::string> headers;  // "Name: value"
};

struct HttpReply {
  long status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, when the reply had one
  std::string location;     // the Location header, when the reply had one
};

// A reply with any status is a success here (the caller judges statuses);
// errors are transport failures, naming the method and URL. ETIMEDOUT for a
// timeout, E2BIG for a reply over max_response_bytes.
base::Result<HttpReply> httpRequest(const HttpClientOptions& opts, const HttpCall& call);

// The same through one kept handle, so a sender that posts to the same
// server again and again reuses its connection (and TLS session) instead of
// paying a handshake per request. One thread at a time.
class HttpSession {
 public:
  HttpSession();
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;
  base::Result<HttpReply> request(const HttpClientOptions& opts, const HttpCall& call);

 private:
  void* curl_;  // CURL*
};

// Seconds to wait from a Retry-After value (delta-seconds or an HTTP date,
// RFC 9110 10.2.3) at `now_unix`; nullopt when it is neither.
std::optional<double> retryAfterSeconds(std::string_view value, double now_unix);

}  // namespace bpfex::exporter
