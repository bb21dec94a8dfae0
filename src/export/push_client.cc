#include "export/push_client.h"

#include "export/http_client.h"


#include <chrono>
#include <mutex>
#include <thread>

#include "metrics/text_format.h"

namespace bpfex::exporter {

using base::Error;
using base::Result;

std::string_view pushMethodHttp(PushMethod m) {
  switch (m) {
    case PushMethod::kReplace: return "PUT";
    case PushMethod::kAdd: return "POST";
    case PushMethod::kDelete: return "DELETE";
  }
  return "PUT";
}

namespace {

std::string base64url(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                       static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;  // no padding: the Pushgateway accepts it without
}

std::string percentEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void appendPair(std::string& path, const std::string& name, const std::string& value) {
  if (value.empty()) {
    path += "/" + name + "@base64/=";
  } else if (value.find('/') != std::string::npos) {
    path += "/" + name + "@base64/" + base64url(value);
  } else {
    path += "/" + name + "/" + percentEncode(value);
  }
}

}  // namespace

Result<std::string> groupingPath(const std::string& job, const std::vector<std::pair<std::string, std::string>>& grouping) {
  if (job.empty()) return Error::msg("push: the job name is empty (the Pushgateway requires one)");
  std::string path = "/metrics";
  appendPair(path, "job", job);
  for (const auto& [k, v] : grouping) {
    if (!metrics::isValidLabelName(k) || k == "job")
      return Error::msg("push: grouping label name \"" + k + "\" is not valid ([a-zA-Z_][a-zA-Z0-9_]*, not job or __*)");
    appendPair(path, k, v);
  }
  return path;
}

Result<PushResponse> push(const PushTarget& t, PushMethod method, const std::string& body) {
  auto path = groupingPath(t.job, t.grouping);
  if (!path) return std::move(path).error();
  std::string base = t.gateway;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (base.rfind("http://", 0) != 0 && base.rfind("https://", 0) != 0)
    return Error::msg("push: gateway \"" + t.gateway + "\" must start with http:// or https://");
  const std::string url = base + path.value();

  PushResponse resp;
  double backoff = t.backoff_seconds;
  for (int attempt = 0; attempt <= t.retries; ++attempt) {
    resp = PushResponse{};
    resp.attempts = attempt + 1;
    HttpClientOptions o{.timeout_seconds = t.timeout_seconds, .connect_timeout_seconds = 5,
                        .username = t.username, .password = t.password, .ca_file = t.ca_file,
                        .cert_file = t.cert_file, .key_file = t.key_file,
                        .insecure_skip_verify = t.insecure_skip_verify, .follow_redirects = false,
                        .max_response_bytes = 1u << 20, .user_agent = "bpfex-push"};
    HttpCall call{.method = std::string(pushMethodHttp(method)), .url = url, .body = body, .headers = {}};
    if (method != PushMethod::kDelete) call.headers.push_back("Content-Type: text/plain; version=0.0.4; charset=utf-8");
    auto r = httpRequest(o, call);
    if (r) {
      resp.status = r->status;
      resp.body = std::move(r->body);
    }
    const bool retryable = !r || resp.status >= 500;
    if (r && resp.status >= 200 && resp.status < 300) return resp;
    if (!retryable || attempt == t.retries) {
      const std::string what = std::string(pushMethodHttp(method)) + " " + url;
      if (!r)
        return Error(r.error().code(), "push: " + r.error().message() + " (after " + std::to_string(resp.attempts) +
                                           " attempt" + (resp.attempts > 1 ? "s" : "") + ")");
      std::string answer = resp.body;
      while (!answer.empty() && (answer.back() == '\n' || answer.back() == ' ')) answer.pop_back();
      return Error(0, "push: " + what + ": the gateway answered " + std::to_string(resp.status) +
                          (answer.empty() ? "" : ": " + answer));
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
    backoff *= 2;
  }
  return resp;
}

}  // namespace bpfex::exporter
