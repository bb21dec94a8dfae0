#include "export/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <memory>
#include <mutex>

namespace bpfex::exporter {

using base::Error;
using base::Result;

namespace {

struct Sink {
  std::string* out;
  size_t max;
  bool overflow = false;
};

size_t collect(char* p, size_t s, size_t n, void* ud) {
  auto* sink = static_cast<Sink*>(ud);
  if (sink->out->size() + s * n > sink->max) {
    sink->overflow = true;
    return 0;  // curl stops with CURLE_WRITE_ERROR
  }
  sink->out->append(p, s * n);
  return s * n;
}

// Keeps the headers the callers judge replies by.
size_t header(char* p, size_t s, size_t n, void* ud) {
  auto* reply = static_cast<HttpReply*>(ud);
  std::string_view line(p, s * n);
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
    if (name == "retry-after") reply->retry_after = std::string(v.substr(0, 64));
    if (name == "location") reply->location = std::string(v.substr(0, 512));
  }
  return s * n;
}

int progress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancelled = static_cast<const std::function<bool()>*>(ud);
  return (*cancelled)() ? 1 : 0;  // non-zero: curl stops with CURLE_ABORTED_BY_CALLBACK
}

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

Result<HttpReply> httpRequest(const HttpClientOptions& o, const HttpCall& call) {
  HttpSession session;
  return session.request(o, call);
}

HttpSession::HttpSession() {
  globalInit();
  curl_ = curl_easy_init();
}

HttpSession::~HttpSession() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<HttpReply> HttpSession::request(const HttpClientOptions& o, const HttpCall& call) {
  const std::string what = call.method + " " + call.url;
  if (call.url.rfind("http://", 0) != 0 && call.url.rfind("https://", 0) != 0)
    return Error(EINVAL, what + ": only http:// and https:// URLs");
  if (curl_ == nullptr) return Error::msg(what + ": curl_easy_init failed");
  // Options from the last request go; the connection stays in the handle's cache.
  curl_easy_reset(static_cast<CURL*>(curl_));
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(nullptr, curl_slist_free_all);
  for (const auto& h : call.headers) headers.reset(curl_slist_append(headers.release(), h.c_str()));
  HttpReply reply;
  Sink sink{&reply.body, o.max_response_bytes};
  CURL* h = static_cast<CURL*>(curl_);
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> connect_to(nullptr, curl_slist_free_all);
  std::string url = call.url;
  if (!o.server_name.empty()) {
    // The certificate is checked against server_name: the URL names it, and
    // CONNECT_TO sends the connection to the configured address.
    std::unique_ptr<CURLU, void (*)(CURLU*)> u(curl_url(), curl_url_cleanup);
    char *host = nullptr, *port = nullptr, *full = nullptr;
    if (curl_url_set(u.get(), CURLUPART_URL, call.url.c_str(), 0) != CURLUE_OK ||
        curl_url_get(u.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u.get(), CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
      return Error(EINVAL, what + ": cannot parse the URL");
    const std::string target = o.server_name + ":" + port + ":" + host + ":" + port;
    curl_free(host);
    curl_free(port);
    if (curl_url_set(u.get(), CURLUPART_HOST, o.server_name.c_str(), 0) != CURLUE_OK ||
        curl_url_get(u.get(), CURLUPART_URL, &full, 0) != CURLUE_OK)
      return Error(EINVAL, what + ": server_name \"" + o.server_name + "\" is not a host name");
    url = full;
    curl_free(full);
    connect_to.reset(curl_slist_append(nullptr, target.c_str()));
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to.get());
  }
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (call.method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  else if (call.method != "GET") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  if (call.method != "GET" && call.method != "HEAD" && call.method != "DELETE") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, call.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
  }
  if (headers) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &reply);
  if (o.cancelled) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &o.cancelled);
  }
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout_seconds * 1000));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(o.timeout_seconds, o.connect_timeout_seconds) * 1000));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, o.user_agent.c_str());
  if (o.follow_redirects) {
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);  // credentials stay with their host
  }
  if (!o.username.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, o.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, o.password.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
  }
  if (!o.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.cert_file.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, o.cert_file.c_str());
  if (!o.key_file.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, o.key_file.c_str());
  if (o.insecure_skip_verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  const CURLcode rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
  if (sink.overflow)
    return Error(E2BIG, what + ": the reply is over " + std::to_string(o.max_response_bytes) + " bytes");
  if (rc == CURLE_ABORTED_BY_CALLBACK) return Error(ECANCELED, what + ": cancelled");
  if (rc != CURLE_OK)
    return Error(rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : ECONNREFUSED, what + ": " + curl_easy_strerror(rc));
  return reply;
}

}  // namespace bpfex::exporter

namespace bpfex::exporter {

std::optional<double> retryAfterSeconds(std::string_view v, double now_unix) {
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return std::nullopt;
    return std::stod(std::string(v));
  }
  const time_t t = curl_getdate(std::string(v).c_str(), nullptr);  // IMF-fixdate and the older forms
  if (t < 0) return std::nullopt;
  return std::max(0.0, static_cast<double>(t) - now_unix);
}

}  // namespace bpfex::exporter
