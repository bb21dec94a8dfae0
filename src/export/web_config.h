// WebConfig: TLS, basic auth and response headers for every HTTP endpoint,
// read from a file in the Prometheus exporter-toolkit's web configuration
// format (`--web.config.file`), so an operator's existing file works as is.
//
//   tls_server_config:   cert_file|cert, key_file|key, client_ca_file|client_ca,
//                        client_auth_type, client_allowed_sans, min_version,
//                        max_version, curve_preferences, prefer_server_cipher_suites
//                        (cipher_suites: refused, GnuTLS does not take Go's names)
//   http_server_config:  headers (the toolkit's five), http2 (accepted; HTTP/1.1 only)
//   basic_auth_users:    user: bcrypt hash ($2a$, $2b$, $2y$)
//   rate_limit:          interval, burst (429 past it)
//
// Parsing is strict: an unknown key, a wrong type or a bad value is an error
// naming the file, line and key. Relative paths resolve against the file's
// directory. The files a config names are read with it, so a loaded
// WebConfig is self-contained; `watched` lists them for change detection.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace bpfex::exporter {

enum class ClientAuth : uint8_t { kNone, kRequest, kRequireAny, kVerifyIfGiven, kRequireAndVerify };

struct WebConfig {
  std::string path;  // the file it came from ("" when there is none)

  bool tls = false;
  std::string cert_pem, key_pem, client_ca_pem;
  ClientAuth client_auth = ClientAuth::kNone;
  std::vector<std::string> client_allowed_sans;
  int min_version = 12, max_version = 13;  // TLS 1.x: 10..13
  std::vector<std::string> curves;         // GnuTLS group names, in preference order
  bool prefer_server_ciphers = true;

  std::map<std::string, std::string> users;  // user -> bcrypt hash
  std::vector<std::pair<std::string, std::string>> headers;
  double rate_interval_seconds = 0;  // 0: no rate limit
  unsigned rate_burst = 0;

  // The config file and every file it names: re-read when one changes.
  std::vector<std::string> watched;

  // Whether there is anything to enforce or watch: a file, TLS, users,
  // headers or a rate limit.
  bool configured() const {
    return !path.empty() || tls || !users.empty() || !headers.empty() || rate_burst > 0;
  }

  // GnuTLS priority string for the versions and curves.
  std::string tlsPriorities() const;
};

// Reads `path` and the files it names.
base::Result<WebConfig> loadWebConfig(const std::string& path);
// Parses a config text; `name` names it in errors, files resolve against
// `base_dir`, `read` reads them (the fuzzer passes one that reads nothing).
using FileReader = base::Result<std::string> (*)(const std::string& path);
base::Result<WebConfig> parseWebConfig(std::string_view text, const std::string& name, const std::string& base_dir,
                                       FileReader read);

}  // namespace bpfex::exporter
