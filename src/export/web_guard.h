// WebGuard: what stands between a client and every HTTP endpoint: the TLS
// certificate the server presents, client certificate checks, basic auth
// (bcrypt) and the rate limit, all from one WebConfig that is re-read when
// its file or a file it names changes (as exporter-toolkit does, so a
// rotated certificate or a new password needs no restart). A config that no
// longer parses leaves the last good one in force, and is counted.
//
// Thread safety: every member is thread-safe; HTTP threads call decide()
// concurrently, and GnuTLS calls the certificate callback from them too.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/result.h"
#include "export/web_config.h"

struct MHD_Connection;

namespace bpfex::exporter {

struct CertMaterial;  // GnuTLS handles; web_guard.cc

class WebGuard {
 public:
  // `cfg` is in force from the start; with a path, the file is watched.
  static base::Result<std::unique_ptr<WebGuard>> create(WebConfig cfg);
  ~WebGuard();
  WebGuard(const WebGuard&) = delete;
  WebGuard& operator=(const WebGuard&) = delete;

  bool tls() const { return tls_at_start_; }
  // For libmicrohttpd at start: priorities, and the client CA (which makes
  // it request client certificates); empty when not used.
  std::string tlsPriorities() const;
  std::string clientCaAtStart() const;

  struct Verdict {
    int status = 0;  // 0: allowed; else the status to answer
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  // The checks for one request, in order: re-read the config if a file
  // changed, the rate limit (429), the client certificate (403), basic auth
  // (401 with WWW-Authenticate). `authorization` is the header's value.
  Verdict decide(MHD_Connection* c, std::string_view authorization);
  // Headers every response carries (http_server_config.headers): an
  // immutable snapshot, replaced when the config is.
  using Headers = std::vector<std::pair<std::string, std::string>>;
  std::shared_ptr<const Headers> headers() const;

  struct Stats {
    uint64_t reloads = 0, reload_errors = 0, auth_failures = 0, rate_limited = 0, cert_rejections = 0;
    bool last_reload_ok = true;
  };
  Stats stats() const;

  // The certificate callback's view (GnuTLS has no user pointer for it).
  std::shared_ptr<const CertMaterial> material() const;

 private:
  explicit WebGuard(WebConfig cfg);
  base::Status install(WebConfig cfg);  // builds the material, then swaps
  void maybeReload();
  bool passwordMatches(const std::string& user, const std::string& password);

  mutable std::mutex mu_;
  WebConfig cfg_;
  std::shared_ptr<const CertMaterial> material_;
  std::shared_ptr<const Headers> headers_ = std::make_shared<const Headers>();
  // Earlier material stays alive: sessions that got it may still use it.
  std::vector<std::shared_ptr<const CertMaterial>> retired_;
  bool tls_at_start_ = false;
  std::string ca_at_start_;
  std::vector<std::pair<std::string, int64_t>> stamps_;  // watched file -> mtime+size stamp
  std::chrono::steady_clock::time_point next_check_{};
  std::once_flag dummy_once_;
  std::string dummy_hash_;                               // compared for unknown users
  std::unordered_set<std::string> good_;                 // digests of checked (user, hash, password)
  double tokens_ = 0;
  std::chrono::steady_clock::time_point last_refill_{};
  Stats stats_;
};

// GnuTLS's gnutls_certificate_retrieve_function2 serving the TLS guard's
// current certificate, for libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK.
void* certificateCallback();

}  // namespace bpfex::exporter
