// `bpfex push`: runs a job (a Lua job script, an exposition file, or stdin
// from a shell job) and pushes its metrics to a Pushgateway, with the
// batch-job metrics every run adds:
//   bpfex_job_duration_seconds, bpfex_job_success (0/1),
//   bpfex_job_last_run_timestamp_seconds,
//   bpfex_job_last_success_timestamp_seconds (successful runs only).
// A failed job pushes its failure with POST, so the group keeps the previous
// run's metrics and last success time, and exits non-zero. Counters and
// histograms of Lua jobs continue from the values the gateway holds for the
// group (read from its /api/v1/metrics before the job runs).
#pragma once

#include <map>
#include <string>

#include "export/push_client.h"
#include "lua/rule.h"

namespace bpfex::daemon {

struct PushOptions {
  exporter::PushTarget target;
  exporter::PushMethod method = exporter::PushMethod::kReplace;
  std::string source;  // JOB.lua, FILE.prom, or "-" (stdin); empty with kDelete
  std::map<std::string, std::string> params;  // the job's params.<name>
  std::string state_dir;                       // the job's state.read/state.write directory
  bool verbose = false;
};

// Exit codes: 0 pushed; 1 the push failed; 2 invalid input; 3 the job failed
// (its failure was pushed).
int runPush(const PushOptions& opts);

// What a Lua push job may use: a scan or a sync runs once, for minutes.
inline constexpr lua::RuleLimits kPushJobLimits{.time_budget_seconds = 300, .memory_bytes = 512u << 20};

}  // namespace bpfex::daemon
