// PushClient: pushes exposition text to a Prometheus Pushgateway.
//
// bpfex does not use prometheus-cpp's Gateway (Debian's 1.0.1): every part of
// it bpfex would use is one of its known bugs (prometheus-semantics.md §3.2):
// Push() sends POST and PushAdd() PUT, grouping values are not URL-encoded,
// there is no default timeout, its serializer mis-escapes HELP and writes NaN
// as "Nan". What is left is a libcurl call, written here with intent-named
// verbs and the Pushgateway's own encoding rules.
//
//   replace -> PUT    (the group's metrics become exactly the body)
//   add     -> POST   (replaces only the metric names in the body)
//   remove  -> DELETE (the group; 202)
//
// Thread safety: push() is safe to call from several threads (one curl handle
// per call).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace bpfex::exporter {

enum class PushMethod { kReplace, kAdd, kDelete };
std::string_view pushMethodHttp(PushMethod m);

struct PushTarget {
  std::string gateway;  // http(s)://host:port[/prefix]
  std::string job;
  std::vector<std::pair<std::string, std::string>> grouping;  // further grouping labels, in order
  std::string username, password;                             // basic auth (both or neither)
  std::string ca_file, cert_file, key_file;                   // TLS
  bool insecure_skip_verify = false;
  double timeout_seconds = 10;  // whole request; a hung gateway fails after this
  int retries = 2;              // on connection errors, timeouts and 5xx
  double backoff_seconds = 0.5;  // doubles after each retry
};

struct PushResponse {
  long status = 0;
  std::string body;
  int attempts = 0;
};

// The grouping key path: /metrics/job/<job>{/<label>/<value>}. Values with a
// '/' are base64url (no padding) with an @base64 suffix on the name, an empty
// value is @base64/=, anything else is percent-encoded (client_golang's rules).
// Errors name an invalid label name or an empty job.
base::Result<std::string> groupingPath(const std::string& job,
                                       const std::vector<std::pair<std::string, std::string>>& grouping);

// Sends the request. 2xx is success; any other status is an error whose
// message carries the gateway's answer verbatim; curl failures name the URL.
base::Result<PushResponse> push(const PushTarget& target, PushMethod method, const std::string& body);

}  // namespace bpfex::exporter
