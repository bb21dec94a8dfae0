// The metric names rules may not declare: bpfex's own, now and later.
//
// One place, consulted by Rule's declarations (so `bpfex check`, load and
// reload refuse a claim at the declaring line), by the rule engine's
// admission of a rule set, and by a test that scrapes a daemon with every
// feature on and checks that each self-metric it serves is reserved here.
//
// Reserved: every name under the `bpfex_` prefix (present and future self-
// metrics, push jobs' bpfex_job_*); the alert series ALERTS and
// ALERTS_FOR_STATE; the process_* families of the process collector (the
// client libraries' standard set); and the series Prometheus itself adds to
// every scrape (up, scrape_*), which a target must not serve.
#pragma once

#include <string>
#include <string_view>

namespace bpfex::metrics {

inline constexpr std::string_view kSelfPrefix = "bpfex_";

// Empty when `name` is free for rules, else why it is not.
std::string reservedReason(std::string_view name);

}  // namespace bpfex::metrics
