#include "daemon/remote_write_config.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "base/clock.h"
#include "base/file.h"
#include "daemon/settings.h"
#include "daemon/yaml_errors.h"
#include "metrics/text_format.h"

namespace bpfex::daemon {

using base::Status;

namespace {

// Headers the protocol, the credentials or curl set: a `headers:` entry
// cannot replace them (Prometheus refuses the same ones).
const std::set<std::string> kReservedHeaders = {
    "authorization", "content-encoding", "content-length", "content-type", "host", "user-agent",
    "x-prometheus-remote-write-version", "connection", "transfer-encoding"};

struct Reader {
  std::string_view file;
  const std::function<std::string(const std::string&)>& beside;

  // Calls fn(key, value node, field name) for each key of a mapping, refusing
  // keys not in `allowed` with the list of the ones that are.
  template <typename Fn>
  Status eachKey(const YAML::Node& m, const std::string& field, std::initializer_list<std::string_view> allowed, Fn fn) {
    if (!m.IsMap()) return fieldError(file, m, field, "expected a mapping");
    for (const auto& kv : m) {
      const std::string k = kv.first.as<std::string>();
      if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return fieldError(file, kv.first, field + "." + k, "unknown setting (" + list + ")");
      }
      if (auto st = fn(k, kv.second, field + "." + k); !st) return st;
    }
    return base::okStatus();
  }
  Status text(const YAML::Node& n, const std::string& field, std::string& out) {
    if (!n.IsScalar()) return fieldError(file, n, field, "expected a string");
    out = n.Scalar();
    return base::okStatus();
  }
  Status flag(const YAML::Node& n, const std::string& field, bool& out) {
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false"))
      return fieldError(file, n, field, "expected true or false");
    out = n.Scalar() == "true";
    return base::okStatus();
  }
  Status duration(const YAML::Node& n, const std::string& field, double& out, double lo, double hi) {
    if (!n.IsScalar()) return fieldError(file, n, field, "expected a duration such as 5s");
    auto d = base::parseDuration(n.Scalar());
    if (!d) return fieldError(file, n, field, d.error().message());
    if (*d < lo || *d > hi)
      return fieldError(file, n, field, base::formatSeconds(*d) + " is out of range [" + base::formatSeconds(lo) +
                                            ", " + base::formatSeconds(hi) + "]");
    out = *d;
    return base::okStatus();
  }
  template <typename T>
  Status number(const YAML::Node& n, const std::string& field, T& out, T lo, T hi) {
    if (!n.IsScalar()) return fieldError(file, n, field, "expected a number");
    auto v = parseWholeNumber<T>(n.Scalar(), lo, hi);
    if (!v) return fieldError(file, n, field, v.error().message());
    out = *v;
    return base::okStatus();
  }
  // A secret from a file: its first line, read now so a missing or
  // unreadable file is this configuration's error.
  Status secretFile(const YAML::Node& n, const std::string& field, std::string& out) {
    std::string path;
    if (auto st = text(n, field, path); !st) return st;
    path = beside(path);
    auto content = base::readFile(path, 64 << 10);
    if (!content) return fieldError(file, n, field, path + ": " + content.error().message());
    out = content->substr(0, content->find('\n'));
    if (!out.empty() && out.back() == '\r') out.pop_back();
    if (out.empty()) return fieldError(file, n, field, path + ": the file is empty");
    return base::okStatus();
  }
  Status path(const YAML::Node& n, const std::string& field, std::string& out) {
    if (auto st = text(n, field, out); !st) return st;
    out = beside(out);
    if (auto content = base::readFile(out, 1 << 20); !content)
      return fieldError(file, n, field, out + ": " + content.error().message());
    return base::okStatus();
  }

  Status queue(const YAML::Node& m, const std::string& field, exporter::RemoteWriteQueueConfig& q) {
    return eachKey(m, field,
                   {"capacity", "min_shards", "max_shards", "max_samples_per_send", "batch_send_deadline",
                    "min_backoff", "max_backoff", "retry_on_http_429"},
                   [&](const std::string& k, const YAML::Node& v, const std::string& f) -> Status {
                     if (k == "capacity") return number<size_t>(v, f, q.capacity, 1, 10'000'000);
                     if (k == "min_shards") return number<unsigned>(v, f, q.min_shards, 1, 200);
                     if (k == "max_shards") return number<unsigned>(v, f, q.max_shards, 1, 200);
                     if (k == "max_samples_per_send") return number<size_t>(v, f, q.max_samples_per_send, 1, 1'000'000);
                     if (k == "batch_send_deadline") return duration(v, f, q.batch_send_deadline, 0.001, 3600);
                     if (k == "min_backoff") return duration(v, f, q.min_backoff, 0.001, 3600);
                     if (k == "max_backoff") return duration(v, f, q.max_backoff, 0.001, 3600);
                     return flag(v, f, q.retry_on_http_429);
                   });
  }

  Status endpoint(const YAML::Node& m, const std::string& field, const std::function<const char*(const char*)>& env,
                  exporter::RemoteWriteOptions& o) {
    bool has_basic = false, has_bearer = false;
    std::string password;
    auto st = eachKey(
        m, field,
        {"url", "name", "remote_timeout", "headers", "basic_auth", "authorization", "tls_config", "queue_config",
         "send_native_histograms", "spool"},
        [&](const std::string& k, const YAML::Node& v, const std::string& f) -> Status {
          if (k == "url") {
            if (auto s = text(v, f, o.url); !s) return s;
            if (o.url.rfind("http://", 0) != 0 && o.url.rfind("https://", 0) != 0)
              return fieldError(file, v, f, "\"" + o.url + "\" must start with http:// or https://");
            return base::okStatus();
          }
          if (k == "name") {
            if (auto s = text(v, f, o.name); !s) return s;
            if (o.name.empty()) return fieldError(file, v, f, "must not be empty");
            return base::okStatus();
          }
          if (k == "remote_timeout") return duration(v, f, o.remote_timeout_seconds, 0.1, 600);
          if (k == "queue_config") return queue(v, f, o.queue);
          if (k == "send_native_histograms") return flag(v, f, o.send_native_histograms);
          if (k == "spool")  // bpfex's own: a write-ahead log under state_dir
            return eachKey(v, f, {"max_bytes"}, [&](const std::string&, const YAML::Node& sv, const std::string& sf) {
              return number<uint64_t>(sv, sf, o.spool_max_bytes, uint64_t{1} << 20, uint64_t{1} << 40);
            });
          if (k == "headers") {
            if (!v.IsMap()) return fieldError(file, v, f, "expected a mapping of header: value");
            for (const auto& h : v) {
              const std::string name = h.first.as<std::string>();
              std::string lower = name;
              for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
              const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
              });
              if (!token) return fieldError(file, h.first, f, "\"" + name + "\" is not a header name");
              if (kReservedHeaders.count(lower) != 0)
                return fieldError(file, h.first, f + "." + name, "is set by bpfex (the protocol or the credentials)");
              if (!h.second.IsScalar() || h.second.Scalar().find_first_of("\r\n") != std::string::npos)
                return fieldError(file, h.second, f + "." + name, "expected a one-line value");
              o.headers.push_back(name + ": " + h.second.Scalar());
            }
            return base::okStatus();
          }
          if (k == "basic_auth") {
            has_basic = true;
            return eachKey(v, f, {"username", "password_file"},
                           [&](const std::string& bk, const YAML::Node& bv, const std::string& bf) -> Status {
                             if (bk == "username") return text(bv, bf, o.client.username);
                             return secretFile(bv, bf, password);
                           });
          }
          if (k == "authorization") {
            has_bearer = true;
            std::string type = "Bearer";
            auto s = eachKey(v, f, {"type", "credentials_file"},
                             [&](const std::string& ak, const YAML::Node& av, const std::string& af) -> Status {
                               if (ak == "type") return text(av, af, type);
                               return secretFile(av, af, o.bearer_token);
                             });
            if (!s) return s;
            if (type != "Bearer") return fieldError(file, v, f + ".type", "only Bearer is supported");
            if (o.bearer_token.empty()) return fieldError(file, v, f + ".credentials_file", "required");
            return base::okStatus();
          }
          // tls_config
          return eachKey(v, f, {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"},
                         [&](const std::string& tk, const YAML::Node& tv, const std::string& tf) -> Status {
                           if (tk == "ca_file") return path(tv, tf, o.client.ca_file);
                           if (tk == "cert_file") return path(tv, tf, o.client.cert_file);
                           if (tk == "key_file") return path(tv, tf, o.client.key_file);
                           if (tk == "server_name") return text(tv, tf, o.client.server_name);
                           return flag(tv, tf, o.client.insecure_skip_verify);
                         });
        });
    if (!st) return st;
    if (o.url.empty()) return fieldError(file, m, field + ".url", "required");
    if (has_basic) {
      if (o.client.username.empty()) return fieldError(file, m, field + ".basic_auth.username", "required");
      if (password.empty())
        if (const char* pw = env("BPFEX_REMOTE_WRITE_PASSWORD")) password = pw;
      if (password.empty())
        return fieldError(file, m, field + ".basic_auth.password_file",
                          "required (or the environment variable BPFEX_REMOTE_WRITE_PASSWORD)");
      o.client.password = password;
    }
    if (has_basic && has_bearer) return fieldError(file, m, field, "basic_auth and authorization are exclusive");
    if (o.client.cert_file.empty() != o.client.key_file.empty())
      return fieldError(file, m, field + ".tls_config", "cert_file and key_file go together");
    if (o.queue.min_shards > o.queue.max_shards)
      return fieldError(file, m, field + ".queue_config.min_shards", "is larger than max_shards");
    if (o.queue.min_backoff > o.queue.max_backoff)
      return fieldError(file, m, field + ".queue_config.min_backoff", "is longer than max_backoff");
    if (m["spool"] && o.spool_max_bytes == 0) o.spool_max_bytes = uint64_t{1} << 30;
    if (o.name.empty()) {  // the URL's host:port, as a readable default
      std::string rest = o.url.substr(o.url.find("://") + 3);
      o.name = rest.substr(0, rest.find('/'));
    }
    return base::okStatus();
  }
};

}  // namespace

Status parseRemoteWrite(const YAML::Node& list, std::string_view file,
                        const std::function<std::string(const std::string&)>& beside,
                        const std::function<const char*(const char*)>& env,
                        std::vector<exporter::RemoteWriteOptions>& out) {
  if (!list.IsSequence()) return fieldError(file, list, "remote_write", "expected a list of endpoints");
  Reader r{file, beside};
  out.clear();
  for (size_t i = 0; i < list.size(); ++i) {
    exporter::RemoteWriteOptions o;
    const std::string field = "remote_write[" + std::to_string(i) + "]";
    if (auto st = r.endpoint(list[i], field, env, o); !st) return st;
    for (const auto& other : out)
      if (other.name == o.name)
        return fieldError(file, list[i], field + ".name",
                          "\"" + o.name + "\" names another endpoint too; give each a name of its own");
    out.push_back(std::move(o));
  }
  return base::okStatus();
}

Status parseExternalLabels(const YAML::Node& map, std::string_view file,
                           const std::function<const char*(const char*)>& env,
                           std::map<std::string, std::string>& out) {
  if (!map.IsMap()) return fieldError(file, map, "external_labels", "expected a mapping of label: value");
  for (const auto& l : map) {
    const std::string name = l.first.as<std::string>();
    const std::string field = "external_labels." + name;
    if (!metrics::isValidLabelName(name) || name == "__name__")
      return fieldError(file, l.first, field, "\"" + name + "\" is not a valid label name");
    if (!l.second.IsScalar()) return fieldError(file, l.second, field, "expected a string");
    const std::string& raw = l.second.Scalar();
    std::string value;
    for (size_t i = 0; i < raw.size();) {
      if (raw.compare(i, 2, "${") != 0) {
        value.push_back(raw[i++]);
        continue;
      }
      const size_t close = raw.find('}', i);
      if (close == std::string::npos) return fieldError(file, l.second, field, "an unclosed ${");
      const std::string var = raw.substr(i + 2, close - i - 2);
      const char* v = var.empty() ? nullptr : env(var.c_str());
      if (v == nullptr) return fieldError(file, l.second, field, "the environment variable " + var + " is not set");
      value += v;
      i = close + 1;
    }
    if (value.empty()) return fieldError(file, l.second, field, "is empty (empty is absent in Prometheus)");
    out[name] = value;
  }
  return base::okStatus();
}

}  // namespace bpfex::daemon
