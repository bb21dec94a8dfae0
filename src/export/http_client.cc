#include "export/http_client.h"

#include <curl/curl.h>

#include <algorithm>
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

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

Result<HttpReply> httpRequest(const HttpClientOptions& o, const HttpCall& call) {
  globalInit();
  const std::string what = call.method + " " + call.url;
  if (call.url.rfind("http://", 0) != 0 && call.url.rfind("https://", 0) != 0)
    return Error(EINVAL, what + ": only http:// and https:// URLs");
  std::unique_ptr<CURL, void (*)(CURL*)> c(curl_easy_init(), curl_easy_cleanup);
  if (!c) return Error::msg(what + ": curl_easy_init failed");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(nullptr, curl_slist_free_all);
  for (const auto& h : call.headers) headers.reset(curl_slist_append(headers.release(), h.c_str()));
  HttpReply reply;
  Sink sink{&reply.body, o.max_response_bytes};
  CURL* h = c.get();
  curl_easy_setopt(h, CURLOPT_URL, call.url.c_str());
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
  if (rc != CURLE_OK)
    return Error(rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : ECONNREFUSED, what + ": " + curl_easy_strerror(rc));
  return reply;
}

}  // namespace bpfex::exporter
