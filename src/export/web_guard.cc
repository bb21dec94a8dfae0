#include "export/web_guard.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "base/log.h"

namespace bpfex::exporter {

using base::Error;
using base::Result;
using base::Status;

struct CertMaterial {
  std::vector<gnutls_pcert_st> chain;
  gnutls_privkey_t key = nullptr;
  gnutls_x509_trust_list_t ca = nullptr;
  CertMaterial() = default;
  CertMaterial(const CertMaterial&) = delete;
  CertMaterial& operator=(const CertMaterial&) = delete;
  ~CertMaterial() {
    for (auto& p : chain) gnutls_pcert_deinit(&p);
    if (key != nullptr) gnutls_privkey_deinit(key);
    if (ca != nullptr) gnutls_x509_trust_list_deinit(ca, 1);
  }
};

namespace {

// GnuTLS's certificate callback carries no user pointer: the one guard with
// TLS in this process is found here.
std::mutex g_tls_mu;
WebGuard* g_tls_guard = nullptr;

int retrieveCertificate(gnutls_session_t, const gnutls_datum_t*, int, const gnutls_pk_algorithm_t*, int,
                        gnutls_pcert_st** pcert, unsigned int* pcert_length, gnutls_privkey_t* privkey) {
  std::shared_ptr<const CertMaterial> m;
  {
    std::lock_guard lock(g_tls_mu);
    if (g_tls_guard != nullptr) m = g_tls_guard->material();
  }
  if (!m || m->chain.empty()) return -1;
  // The guard keeps `m` alive after a rotation (retired_), so the session may
  // go on using these pointers.
  *pcert = const_cast<gnutls_pcert_st*>(m->chain.data());
  *pcert_length = static_cast<unsigned>(m->chain.size());
  *privkey = m->key;
  return 0;
}

gnutls_datum_t datum(const std::string& s) {
  return {reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())), static_cast<unsigned>(s.size())};
}

Result<std::shared_ptr<const CertMaterial>> buildMaterial(const WebConfig& cfg) {
  auto m = std::make_shared<CertMaterial>();
  if (!cfg.tls) return std::shared_ptr<const CertMaterial>(m);
  const std::string where = cfg.path.empty() ? "tls_server_config" : cfg.path + ": tls_server_config";
  std::array<gnutls_pcert_st, 16> certs{};
  unsigned n = certs.size();
  gnutls_datum_t cd = datum(cfg.cert_pem);
  if (int rc = gnutls_pcert_list_import_x509_raw(certs.data(), &n, &cd, GNUTLS_X509_FMT_PEM, 0); rc < 0 || n == 0)
    return Error::msg(where + ": the certificate does not parse: " + gnutls_strerror(rc));
  m->chain.assign(certs.begin(), certs.begin() + n);
  gnutls_privkey_init(&m->key);
  gnutls_datum_t kd = datum(cfg.key_pem);
  if (int rc = gnutls_privkey_import_x509_raw(m->key, &kd, GNUTLS_X509_FMT_PEM, nullptr, 0); rc < 0)
    return Error::msg(where + ": the key does not parse: " + gnutls_strerror(rc));
  // The key must belong to the certificate: otherwise every handshake fails.
  gnutls_pubkey_t from_key = nullptr;
  gnutls_pubkey_init(&from_key);
  gnutls_datum_t a{}, b{};
  bool match = gnutls_pubkey_import_privkey(from_key, m->key, 0, 0) == 0 &&
               gnutls_pubkey_export2(from_key, GNUTLS_X509_FMT_DER, &a) == 0 &&
               gnutls_pubkey_export2(m->chain[0].pubkey, GNUTLS_X509_FMT_DER, &b) == 0 && a.size == b.size &&
               std::memcmp(a.data, b.data, a.size) == 0;
  gnutls_free(a.data);
  gnutls_free(b.data);
  gnutls_pubkey_deinit(from_key);
  if (!match) return Error::msg(where + ": the key does not belong to the certificate");
  if (!cfg.client_ca_pem.empty()) {
    gnutls_x509_trust_list_init(&m->ca, 0);
    gnutls_datum_t ad = datum(cfg.client_ca_pem);
    if (int rc = gnutls_x509_trust_list_add_trust_mem(m->ca, &ad, nullptr, GNUTLS_X509_FMT_PEM, 0, 0); rc <= 0)
      return Error::msg(where + ": the client CA holds no certificate" + (rc < 0 ? std::string(": ") + gnutls_strerror(rc) : ""));
  }
  return std::shared_ptr<const CertMaterial>(m);
}

// Compares without an early exit: the time does not tell where they differ.
bool constantTimeEqual(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string bcrypt(const std::string& password, const std::string& hash) {
  // crypt_data is ~32 KiB: one per thread, not on the stack.
  thread_local std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_r(password.c_str(), hash.c_str(), data.get());
  return out != nullptr && out[0] != '*' ? std::string(out) : std::string();
}

std::string digest(std::string_view user, std::string_view hash, std::string_view password) {
  std::string in;
  in.append(user).push_back('\0');
  in.append(hash).push_back('\0');
  in.append(password);
  std::array<unsigned char, 32> out{};
  gnutls_hash_fast(GNUTLS_DIG_SHA256, in.data(), in.size(), out.data());
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

int64_t stampOf(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec + (static_cast<int64_t>(st.st_size) << 1);
}

bool sanAllowed(gnutls_x509_crt_t crt, const std::vector<std::string>& allowed) {
  for (unsigned i = 0;; ++i) {
    std::array<char, 1024> buf{};
    size_t size = buf.size();
    const int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf.data(), &size, nullptr);
    if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) return false;
    if (type < 0) continue;
    std::string name;
    if (type == GNUTLS_SAN_IPADDRESS) {
      char text[INET6_ADDRSTRLEN] = {};
      if (size == 4 || size == 16) inet_ntop(size == 4 ? AF_INET : AF_INET6, buf.data(), text, sizeof text);
      name = text;
    } else {
      name.assign(buf.data(), size);
    }
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) return true;
  }
}

}  // namespace

WebGuard::WebGuard(WebConfig cfg) : cfg_(std::move(cfg)) {}

WebGuard::~WebGuard() {
  std::lock_guard lock(g_tls_mu);
  if (g_tls_guard == this) g_tls_guard = nullptr;
}

Result<std::unique_ptr<WebGuard>> WebGuard::create(WebConfig cfg) {
  std::unique_ptr<WebGuard> g(new WebGuard(WebConfig{}));
  g->tls_at_start_ = cfg.tls;
  g->ca_at_start_ = cfg.client_ca_pem;
  if (auto st = g->install(std::move(cfg)); !st) return std::move(st).error();
  for (const auto& f : g->cfg_.watched) g->stamps_.emplace_back(f, stampOf(f));
  g->last_refill_ = std::chrono::steady_clock::now();
  g->tokens_ = g->cfg_.rate_burst;
  if (g->tls_at_start_) {
    std::lock_guard lock(g_tls_mu);
    if (g_tls_guard != nullptr) return Error::msg("web config: one TLS listener per process");
    g_tls_guard = g.get();
  }
  return g;
}

Status WebGuard::install(WebConfig cfg) {
  auto m = buildMaterial(cfg);
  if (!m) return std::move(m).error();
  std::lock_guard lock(mu_);
  if (material_) {
    retired_.push_back(material_);
    if (retired_.size() > 64) retired_.erase(retired_.begin());  // sessions live minutes at most
  }
  material_ = std::move(m).value();
  headers_ = std::make_shared<const Headers>(cfg.headers);
  cfg_ = std::move(cfg);
  good_.clear();
  return base::okStatus();
}

std::shared_ptr<const CertMaterial> WebGuard::material() const {
  std::lock_guard lock(mu_);
  return material_;
}

std::string WebGuard::tlsPriorities() const {
  std::lock_guard lock(mu_);
  return cfg_.tlsPriorities();
}

std::string WebGuard::clientCaAtStart() const { return ca_at_start_; }

std::shared_ptr<const WebGuard::Headers> WebGuard::headers() const {
  std::lock_guard lock(mu_);
  return headers_;
}

WebGuard::Stats WebGuard::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void WebGuard::maybeReload() {
  std::vector<std::pair<std::string, int64_t>> now;
  std::string path;
  {
    std::lock_guard lock(mu_);
    const auto t = std::chrono::steady_clock::now();
    if (cfg_.path.empty() || t < next_check_) return;
    next_check_ = t + std::chrono::seconds(1);
    for (const auto& [f, s] : stamps_) now.emplace_back(f, stampOf(f));
    if (now == stamps_) return;
    stamps_ = now;
    path = cfg_.path;
  }
  auto next = loadWebConfig(path);
  Status st = next ? base::okStatus() : Status(std::move(next).error());
  if (st && next->tls != tls_at_start_) st = Error::msg(path + ": switching TLS on or off takes a restart");
  if (st && next->client_ca_pem.empty() != ca_at_start_.empty())
    st = Error::msg(path + ": adding or removing the client CA takes a restart (it decides whether clients are asked for certificates)");
  if (st) {
    std::vector<std::pair<std::string, int64_t>> stamps;
    for (const auto& f : next->watched) stamps.emplace_back(f, stampOf(f));
    st = install(std::move(next).value());
    if (st) {
      std::lock_guard lock(mu_);
      stamps_ = std::move(stamps);
      ++stats_.reloads;
      stats_.last_reload_ok = true;
      BPFEX_LOG_INFO("web config {}: reloaded", path);
      return;
    }
  }
  std::lock_guard lock(mu_);
  ++stats_.reload_errors;
  stats_.last_reload_ok = false;
  BPFEX_LOG_ERROR("web config: {}; the previous settings stay in force", st.error().message());
}

bool WebGuard::passwordMatches(const std::string& user, const std::string& password) {
  // A fixed hash to check unknown users against, so that a wrong user costs
  // what a wrong password costs. Made once, when the first password is checked.
  std::call_once(dummy_once_, [this] {
    std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> salt{};
    if (crypt_gensalt_rn("$2b$", 10, nullptr, 0, salt.data(), salt.size()) != nullptr)
      dummy_hash_ = bcrypt("bpfex: no such user", salt.data());
    if (dummy_hash_.empty()) dummy_hash_ = "$2b$10$" + std::string(53, '.');  // still costs a bcrypt round
  });
  std::string hash;
  bool known = false;
  {
    std::lock_guard lock(mu_);
    auto it = cfg_.users.find(user);
    known = it != cfg_.users.end();
    hash = known ? it->second : dummy_hash_;
    if (known && good_.count(digest(user, hash, password))) return true;
  }
  // bcrypt runs outside the lock: it is slow on purpose.
  const std::string out = bcrypt(password, hash);
  const bool ok = !out.empty() && constantTimeEqual(out, hash) && known;
  if (ok) {
    std::lock_guard lock(mu_);
    if (good_.size() >= 1024) good_.clear();
    good_.insert(digest(user, hash, password));
  }
  return ok;
}

WebGuard::Verdict WebGuard::decide(MHD_Connection* c, std::string_view authorization) {
  maybeReload();
  Verdict v;
  ClientAuth auth;
  std::vector<std::string> sans;
  bool need_password = false;
  std::shared_ptr<const CertMaterial> m;
  {
    std::lock_guard lock(mu_);
    if (cfg_.rate_burst > 0) {
      const auto t = std::chrono::steady_clock::now();
      const double per_token = cfg_.rate_interval_seconds;
      tokens_ = std::min<double>(cfg_.rate_burst,
                                 tokens_ + std::chrono::duration<double>(t - last_refill_).count() / per_token);
      last_refill_ = t;
      if (tokens_ < 1) {
        ++stats_.rate_limited;
        return {429, "429 too many requests (rate_limit in the web config)\n", {{"Retry-After", "1"}}};
      }
      tokens_ -= 1;
    }
    auth = cfg_.tls ? cfg_.client_auth : ClientAuth::kNone;
    sans = cfg_.client_allowed_sans;
    need_password = !cfg_.users.empty();
    m = material_;
  }
  if (auth == ClientAuth::kRequireAny || auth == ClientAuth::kVerifyIfGiven || auth == ClientAuth::kRequireAndVerify) {
    const MHD_ConnectionInfo* ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    auto* session = ci != nullptr ? static_cast<gnutls_session_t>(ci->tls_session) : nullptr;
    unsigned n = 0;
    const gnutls_datum_t* peers = session != nullptr ? gnutls_certificate_get_peers(session, &n) : nullptr;
    const bool verify = auth != ClientAuth::kRequireAny;
    std::string why;
    if (peers == nullptr || n == 0) {
      if (auth != ClientAuth::kVerifyIfGiven) why = "a client certificate is required";
    } else if (verify) {
      std::vector<gnutls_x509_crt_t> crts(n, nullptr);
      bool parsed = true;
      for (unsigned i = 0; i < n; ++i) {
        gnutls_x509_crt_init(&crts[i]);
        parsed = parsed && gnutls_x509_crt_import(crts[i], &peers[i], GNUTLS_X509_FMT_DER) == 0;
      }
      unsigned status = 1;
      if (parsed && m && m->ca != nullptr)
        (void)gnutls_x509_trust_list_verify_crt(m->ca, crts.data(), n, 0, &status, nullptr);
      if (status != 0) why = "the client certificate is not signed by the client CA, or has expired";
      else if (!sans.empty() && !sanAllowed(crts[0], sans)) why = "the client certificate's names are not in client_allowed_sans";
      for (auto* crt : crts) gnutls_x509_crt_deinit(crt);
    }
    if (!why.empty()) {
      std::lock_guard lock(mu_);
      ++stats_.cert_rejections;
      return {403, "403 forbidden: " + why + "\n", {}};
    }
  }
  if (need_password) {
    auto fail = [&] {
      std::lock_guard lock(mu_);
      ++stats_.auth_failures;
      return Verdict{401, "401 unauthorized\n", {{"WWW-Authenticate", "Basic realm=\"bpfex\", charset=\"UTF-8\""}}};
    };
    constexpr std::string_view kBasic = "basic ";
    if (authorization.size() <= kBasic.size()) return fail();
    for (size_t i = 0; i < kBasic.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(authorization[i])) != kBasic[i]) return fail();
    std::string b64(authorization.substr(kBasic.size()));
    b64.erase(0, b64.find_first_not_of(' '));
    gnutls_datum_t in = datum(b64), out{};
    if (b64.size() > 4096 || gnutls_base64_decode2(&in, &out) != 0) return fail();
    const std::string pair(reinterpret_cast<const char*>(out.data), out.size);
    gnutls_free(out.data);
    const size_t colon = pair.find(':');
    if (colon == std::string::npos) return fail();
    if (!passwordMatches(pair.substr(0, colon), pair.substr(colon + 1))) return fail();
  }
  return v;
}

void* certificateCallback() { return reinterpret_cast<void*>(&retrieveCertificate); }

}  // namespace bpfex::exporter
