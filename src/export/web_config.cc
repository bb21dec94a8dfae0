#include "export/web_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <filesystem>

#include "base/clock.h"
#include "base/file.h"

namespace bpfex::exporter {

using base::Error;
using base::Result;
using base::Status;

namespace {

// Walks the YAML tree; every error names the file, line and key.
struct Parser {
  const std::string& name;
  const std::string& base_dir;
  FileReader read;
  WebConfig cfg;

  Error fail(const YAML::Node& n, std::string_view key, std::string_view why) const {
    const int line = n.Mark().line >= 0 ? n.Mark().line + 1 : 0;
    return Error::msg(name + ":" + std::to_string(line) + ": " + std::string(key) + ": " + std::string(why));
  }

  Result<std::string> scalar(const YAML::Node& n, std::string_view key) const {
    if (!n.IsScalar()) return fail(n, key, "expected a string");
    return n.Scalar();
  }

  Result<bool> boolean(const YAML::Node& n, std::string_view key) const {
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false")) return fail(n, key, "expected true or false");
    return n.Scalar() == "true";
  }

  Result<std::vector<std::string>> strings(const YAML::Node& n, std::string_view key) const {
    if (!n.IsSequence()) return fail(n, key, "expected a list of strings");
    std::vector<std::string> out;
    for (const auto& e : n) {
      auto s = scalar(e, key);
      if (!s) return std::move(s).error();
      out.push_back(s.value());
    }
    return out;
  }

  // A file the config names: resolved against the config's directory, read
  // now (so a loaded config is whole), and watched for changes.
  Result<std::string> file(const YAML::Node& n, std::string_view key) {
    auto p = scalar(n, key);
    if (!p) return std::move(p).error();
    if (p->empty()) return fail(n, key, "empty path");
    std::filesystem::path path(p.value());
    if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
    auto text = read(path.string());
    if (!text) return fail(n, key, text.error().message());
    cfg.watched.push_back(path.string());
    return text;
  }

  template <class F>
  Status mapping(const YAML::Node& n, std::string_view key, F each) {
    if (!n.IsMap()) return fail(n, key, "expected a mapping");
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) return fail(kv.first, key, "keys must be strings");
      const std::string k = kv.first.Scalar();
      const std::string full = key.empty() ? k : std::string(key) + "." + k;
      if (auto st = each(k, full, kv.first, kv.second); !st) return st;
    }
    return base::okStatus();
  }

  static Result<int> tlsVersion(std::string_view v) {
    if (v == "TLS10") return 10;
    if (v == "TLS11") return 11;
    if (v == "TLS12") return 12;
    if (v == "TLS13") return 13;
    return Error::msg("\"" + std::string(v) + "\" is not TLS10, TLS11, TLS12 or TLS13");
  }

  Status tls(const YAML::Node& n) {
    cfg.tls = true;
    bool have_cert = false, have_key = false, have_ca = false, auth_set = false;
    auto st = mapping(n, "tls_server_config", [&](const std::string& k, const std::string& full, const YAML::Node& kn,
                                                  const YAML::Node& v) -> Status {
      // PEM material: `<name>_file` names a file, `<name>` holds it inline.
      auto pem = [&](std::string_view name, bool& have, std::string& out) -> Status {
        if (have) return fail(kn, full, std::string(name) + "_file and " + std::string(name) + " are the same setting; give one");
        auto t = k == name ? scalar(v, full) : file(v, full);
        if (!t) return std::move(t).error();
        out = std::move(t).value();
        have = true;
        return base::okStatus();
      };
      if (k == "cert_file" || k == "cert") {
        return pem("cert", have_cert, cfg.cert_pem);
      } else if (k == "key_file" || k == "key") {
        return pem("key", have_key, cfg.key_pem);
      } else if (k == "client_ca_file" || k == "client_ca") {
        return pem("client_ca", have_ca, cfg.client_ca_pem);
      } else if (k == "client_auth_type") {
        auto t = scalar(v, full);
        if (!t) return std::move(t).error();
        static constexpr std::array<std::pair<std::string_view, ClientAuth>, 5> kTypes = {{
            {"NoClientCert", ClientAuth::kNone},
            {"RequestClientCert", ClientAuth::kRequest},
            {"RequireAnyClientCert", ClientAuth::kRequireAny},
            {"VerifyClientCertIfGiven", ClientAuth::kVerifyIfGiven},
            {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerify},
        }};
        auto it = std::find_if(kTypes.begin(), kTypes.end(), [&](const auto& e) { return e.first == t.value(); });
        if (it == kTypes.end())
          return fail(v, full, "\"" + t.value() + "\" is not NoClientCert, RequestClientCert, RequireAnyClientCert, "
                                                  "VerifyClientCertIfGiven or RequireAndVerifyClientCert");
        cfg.client_auth = it->second;
        auth_set = true;
      } else if (k == "client_allowed_sans") {
        auto l = strings(v, full);
        if (!l) return std::move(l).error();
        cfg.client_allowed_sans = l.value();
      } else if (k == "min_version" || k == "max_version") {
        auto t = scalar(v, full);
        if (!t) return std::move(t).error();
        auto ver = tlsVersion(t.value());
        if (!ver) return fail(v, full, ver.error().message());
        (k == "min_version" ? cfg.min_version : cfg.max_version) = ver.value();
      } else if (k == "curve_preferences") {
        auto l = strings(v, full);
        if (!l) return std::move(l).error();
        for (const auto& c : l.value()) {
          if (c == "CurveP256") cfg.curves.push_back("GROUP-SECP256R1");
          else if (c == "CurveP384") cfg.curves.push_back("GROUP-SECP384R1");
          else if (c == "CurveP521") cfg.curves.push_back("GROUP-SECP521R1");
          else if (c == "X25519") cfg.curves.push_back("GROUP-X25519");
          else return fail(v, full, "\"" + c + "\" is not CurveP256, CurveP384, CurveP521 or X25519");
        }
      } else if (k == "prefer_server_cipher_suites") {
        auto b = boolean(v, full);
        if (!b) return std::move(b).error();
        cfg.prefer_server_ciphers = b.value();
      } else if (k == "cipher_suites") {
        // Go's suite names have no faithful GnuTLS equivalent; refusing is
        // better than silently running with other ciphers than asked for.
        if (v.IsSequence() && v.size() == 0) return base::okStatus();
        return fail(kn, full, "not supported by bpfex (GnuTLS does not take Go's suite names); "
                              "remove it, or bound the protocol with min_version");
      } else {
        return fail(kn, full, "unknown setting");
      }
      return base::okStatus();
    });
    if (!st) return st;
    if (!have_cert || !have_key)
      return fail(n, "tls_server_config", "cert_file (or cert) and key_file (or key) are both required");
    if (have_ca && !auth_set)
      cfg.client_auth = ClientAuth::kRequireAndVerify;  // the toolkit's default once a CA is given
    if (have_ca && cfg.client_auth == ClientAuth::kNone)
      return fail(n, "tls_server_config.client_auth_type", "NoClientCert together with a client CA is contradictory");
    if (!have_ca && (cfg.client_auth == ClientAuth::kVerifyIfGiven || cfg.client_auth == ClientAuth::kRequireAndVerify))
      return fail(n, "tls_server_config.client_ca_file", "required to verify client certificates");
    if (!cfg.client_allowed_sans.empty() && cfg.client_auth != ClientAuth::kRequireAndVerify)
      return fail(n, "tls_server_config.client_allowed_sans", "needs client_auth_type RequireAndVerifyClientCert");
    if (cfg.min_version > cfg.max_version)
      return fail(n, "tls_server_config", "min_version is above max_version");
    return base::okStatus();
  }

  Status httpServer(const YAML::Node& n) {
    return mapping(n, "http_server_config", [&](const std::string& k, const std::string& full, const YAML::Node& kn,
                                               const YAML::Node& v) -> Status {
      if (k == "http2") {
        auto b = boolean(v, full);
        return b ? base::okStatus() : Status(std::move(b).error());  // accepted; bpfex speaks HTTP/1.1
      }
      if (k != "headers") return fail(kn, full, "unknown setting (headers, http2)");
      return mapping(v, full, [&](const std::string& h, const std::string& hfull, const YAML::Node& hn,
                                  const YAML::Node& hv) -> Status {
        auto val = scalar(hv, hfull);
        if (!val) return std::move(val).error();
        if (h == "X-Frame-Options" && val.value() != "deny" && val.value() != "sameorigin")
          return fail(hv, hfull, "must be deny or sameorigin");
        if (h == "X-Content-Type-Options" && val.value() != "nosniff") return fail(hv, hfull, "must be nosniff");
        if (h != "Content-Security-Policy" && h != "X-Frame-Options" && h != "X-Content-Type-Options" &&
            h != "X-XSS-Protection" && h != "Strict-Transport-Security")
          return fail(hn, hfull,
                      "not an allowed header (Content-Security-Policy, X-Frame-Options, X-Content-Type-Options, "
                      "X-XSS-Protection, Strict-Transport-Security)");
        if (val->find_first_of("\r\n") != std::string::npos) return fail(hv, hfull, "a header value is one line");
        cfg.headers.emplace_back(h, val.value());
        return base::okStatus();
      });
    });
  }

  Status users(const YAML::Node& n) {
    return mapping(n, "basic_auth_users", [&](const std::string& user, const std::string& full, const YAML::Node& kn,
                                             const YAML::Node& v) -> Status {
      auto hash = scalar(v, full);
      if (!hash) return std::move(hash).error();
      if (user.empty() || user.find(':') != std::string::npos) return fail(kn, full, "a user name has no ':'");
      const std::string& h = hash.value();
      if (h.size() != 60 || (h.rfind("$2a$", 0) != 0 && h.rfind("$2b$", 0) != 0 && h.rfind("$2y$", 0) != 0))
        return fail(v, full, "not a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters; e.g. htpasswd -nBC 10 USER)");
      cfg.users[user] = h;
      return base::okStatus();
    });
  }

  Status rateLimit(const YAML::Node& n) {
    auto st = mapping(n, "rate_limit", [&](const std::string& k, const std::string& full, const YAML::Node& kn,
                                          const YAML::Node& v) -> Status {
      auto t = scalar(v, full);
      if (!t) return std::move(t).error();
      if (k == "interval") {
        auto d = base::parseDuration(t.value());
        if (!d || d.value() <= 0) return fail(v, full, d ? "must be above 0" : d.error().message());
        cfg.rate_interval_seconds = d.value();
      } else if (k == "burst") {
        char* end = nullptr;
        const unsigned long b = std::strtoul(t->c_str(), &end, 10);
        if (t->empty() || *end != '\0' || b == 0 || b > 1000000) return fail(v, full, "a whole number from 1 to 1000000");
        cfg.rate_burst = static_cast<unsigned>(b);
      } else {
        return fail(kn, full, "unknown setting (interval, burst)");
      }
      return base::okStatus();
    });
    if (!st) return st;
    if (cfg.rate_interval_seconds <= 0 || cfg.rate_burst == 0)
      return fail(n, "rate_limit", "interval and burst are both required");
    return base::okStatus();
  }

  Status walk(const YAML::Node& root) {
    if (root.IsNull()) return base::okStatus();  // an empty file: plain HTTP, no auth
    return mapping(root, "", [&](const std::string& k, const std::string&, const YAML::Node& kn,
                                 const YAML::Node& v) -> Status {
      if (k == "tls_server_config") return tls(v);
      if (k == "http_server_config") return httpServer(v);
      if (k == "basic_auth_users") return users(v);
      if (k == "rate_limit") return rateLimit(v);
      return fail(kn, k, "unknown setting (tls_server_config, http_server_config, basic_auth_users, rate_limit)");
    });
  }
};

}  // namespace

std::string WebConfig::tlsPriorities() const {
  std::string p = "NORMAL:-VERS-ALL";
  for (int v = min_version; v <= max_version; ++v) p += ":+VERS-TLS1." + std::to_string(v - 10);
  if (!curves.empty()) {
    p += ":-GROUP-ALL";
    for (const auto& c : curves) p += ":+" + c;
  }
  if (prefer_server_ciphers) p += ":%SERVER_PRECEDENCE";
  return p;
}

Result<WebConfig> parseWebConfig(std::string_view text, const std::string& name, const std::string& base_dir,
                                 FileReader read) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Error::msg(name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  Parser p{name, base_dir, read, {}};
  p.cfg.path = name;
  try {
    if (auto st = p.walk(root); !st) return std::move(st).error();
  } catch (const YAML::Exception& e) {
    return Error::msg(name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return std::move(p.cfg);
}

Result<WebConfig> loadWebConfig(const std::string& path) {
  auto text = base::readFile(path, 1u << 20);
  if (!text) return std::move(text).error().context("web config");
  const std::string dir = std::filesystem::path(path).parent_path().string();
  auto cfg = parseWebConfig(text.value(), path, dir.empty() ? "." : dir,
                            [](const std::string& p) { return base::readFile(p, 1u << 20); });
  if (!cfg) return cfg;
  cfg->watched.insert(cfg->watched.begin(), path);
  return cfg;
}

}  // namespace bpfex::exporter
