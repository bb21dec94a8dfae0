// The metric names rules may not declare: bpfex's own, now and later.
//
// One place, consulted by Rule's declarations (so `bpfex check`, load and
// reload refuse a claim at the declaring line), by the rule engine's
// admission of a rule set, and by a test that scrapes a daemon with every
// feature on and checks that each self-metric it serves is reserved here.
//
// Registration: selfFamily() is how every self-metric is registered.
//
// Reserved: every name under the `bpfex_` prefix (present and future self-
// metrics, push jobs' bpfex_job_*); the alert series ALERTS and
// ALERTS_FOR_STATE; the process_* families of the process collector (the
// client libraries' standard set); and the series Prometheus itself adds to
// every scrape (up, scrape_*), which a target must not serve.
#pragma once

#include <string>
#include <string_view>

#include "metrics/registry.h"

namespace bpfex::metrics {

inline constexpr std::string_view kSelfPrefix = "bpfex_";

// Empty when `name` is free for rules, else why it is not.
std::string reservedReason(std::string_view name);

// Registers one of bpfex's own families: every self-metric is registered
// here, so none can be a name a rule may claim. A name that is not reserved,
// or a registration that fails, is a programming error: it is logged and
// the process aborts at startup, before anything is served.
Family* selfFamily(Registry& registry, FamilyOptions options);

}  // namespace bpfex::metrics
