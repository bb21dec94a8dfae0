// The operator's status page at `/`: rules, alerts, BPF programs and maps,
// peers and the effective settings, on one small HTML page (no JavaScript,
// readable on a phone). It is built only from what the JSON endpoints and the
// self-metrics serve (the /rules and /api/v1/alerts documents and the last
// published exposition), so the page cannot disagree with them.
#pragma once

#include <string>
#include <string_view>

#include "daemon/config.h"

namespace bpfex::daemon {

struct StatusInputs {
  const Config* config = nullptr;  // the effective configuration (secrets are redacted here)
  double now_unix = 0;
  double started_unix = 0;
  std::string rules_json;   // RuleEngine::statusJson(): /rules
  std::string alerts_json;  // RuleEngine::alertsJson(): /api/v1/alerts
  std::string_view exposition;  // the last snapshot's text 0.0.4 body (self-metrics are read from it)
  uint64_t ticks = 0;
  double last_tick_unix = 0;
  size_t series = 0;
};

std::string renderStatusPage(const StatusInputs& in);

// For people: 1536 -> "1.5 KiB", 0.0123 s -> "12.3ms", an age -> "2m5s".
std::string humanBytes(double bytes);
std::string humanDuration(double seconds);

}  // namespace bpfex::daemon
