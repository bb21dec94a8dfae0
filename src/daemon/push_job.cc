#include "daemon/push_job.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/clock.h"
#include "base/file.h"
#include "export/http_client.h"
#include "lua/rule.h"
#include "metrics/exposition.h"
#include "metrics/registry.h"
#include "metrics/reserved.h"
#include "metrics/text_validate.h"

namespace bpfex::daemon {

using base::Error;
using base::Result;
using metrics::MetricType;

namespace {

// GET through the one HTTP client. `with_credentials`: the gateway's own
// API only; a job's http.get gets the TLS settings (its CA, client
// certificate, --insecure) but never the gateway's password.
Result<std::pair<long, std::string>> httpGetWith(const exporter::PushTarget& t, const std::string& url, double timeout,
                                                 bool with_credentials) {
  exporter::HttpClientOptions o;
  o.timeout_seconds = timeout;
  o.ca_file = t.ca_file;
  o.cert_file = t.cert_file;
  o.key_file = t.key_file;
  o.insecure_skip_verify = t.insecure_skip_verify;
  o.follow_redirects = true;
  o.max_response_bytes = 64u << 20;
  o.user_agent = "bpfex-push";
  if (with_credentials) {
    o.username = t.username;
    o.password = t.password;
  }
  auto r = exporter::httpRequest(o, {.method = "GET", .url = url, .body = {}, .headers = {}});
  if (!r) return std::move(r).error();
  return std::make_pair(r->status, std::move(r->body));
}

class CurlJobHost : public lua::JobHost {
 public:
  explicit CurlJobHost(const exporter::PushTarget& t) : target_(t) {}
  base::Result<std::pair<long, std::string>> httpGet(const std::string& url, double timeout) override {
    return httpGetWith(target_, url, timeout, false);
  }
  base::Result<std::string> readFile(const std::string& path, size_t max_bytes) override {
    return base::readFile(path, max_bytes);
  }
  base::Result<std::vector<std::string>> walk(const std::string& dir, size_t limit) override {
    namespace fs = std::filesystem;
    std::vector<std::string> out;
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
    if (ec) return Error::fromErrno(ec.value(), "walk " + dir);
    for (; it != end && out.size() < limit; it.increment(ec)) {
      if (ec) break;
      const std::string name = it->path().filename().string();
      if (it->is_directory() && (name == ".git" || name == "node_modules")) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) out.push_back(it->path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  exporter::PushTarget target_;
};

// The batch-job metrics of this run, as text.
std::string jobMetrics(bool success, double duration, double now) {
  metrics::Registry r;
  auto gauge = [&](const char* name, const char* help, const char* unit, double v) {
    (void)metrics::selfFamily(r, {.name = name, .help = help, .unit = unit})->set({}, v);
  };
  gauge("bpfex_job_duration_seconds", "How long the job's last run took.", "seconds", duration);
  gauge("bpfex_job_success", "Whether the job's last run succeeded (1) or failed (0).", "", success ? 1 : 0);
  gauge("bpfex_job_last_run_timestamp_seconds", "When the job last ran, successful or not.", "seconds", now);
  if (success)
    gauge("bpfex_job_last_success_timestamp_seconds", "When the job last succeeded.", "seconds", now);
  metrics::Buffer b;
  metrics::renderRegistry(r, metrics::Format::kText004, b);
  return std::string(b.view());
}

std::string gatewayBase(const exporter::PushTarget& t) {
  std::string b = t.gateway;
  while (!b.empty() && b.back() == '/') b.pop_back();
  return b;
}

// Counters and histograms continue from what the gateway holds for this
// group, so pushed totals accumulate across runs.
void preloadFromGateway(const PushOptions& o, metrics::Registry& reg) {
  auto got = httpGetWith(o.target, gatewayBase(o.target) + "/api/v1/metrics", o.target.timeout_seconds, true);
  if (!got || got->first != 200) {
    std::fprintf(stderr, "bpfex push: previous values unavailable (%s); counters start at 0\n",
                 got ? ("HTTP " + std::to_string(got->first)).c_str() : got.error().message().c_str());
    return;
  }
  auto j = nlohmann::json::parse(got->second, nullptr, false);
  if (j.is_discarded() || !j.contains("data")) return;
  std::map<std::string, std::string> key = {{"job", o.target.job}};
  for (const auto& [k, v] : o.target.grouping) key[k] = v;
  for (const auto& group : j["data"]) {
    std::map<std::string, std::string> gl;
    for (const auto& [k, v] : group["labels"].items()) gl[k] = v.get<std::string>();
    if (gl != key) continue;
    for (const auto& fam : reg.families()) {
      const MetricType t = fam->type();
      if (t != MetricType::kCounter && t != MetricType::kHistogram) continue;
      if (!group.contains(fam->name())) continue;
      for (const auto& m : group[fam->name()]["metrics"]) {
        std::vector<std::string> values;
        for (const auto& ln : fam->options().label_names)
          values.push_back(m["labels"].contains(ln) ? m["labels"][ln].get<std::string>() : "");
        std::vector<std::string_view> lv(values.begin(), values.end());
        if (t == MetricType::kCounter) {
          (void)fam->set(lv, std::stod(m["value"].get<std::string>()));
          continue;
        }
        // Histograms: cumulative buckets back to per-bucket counts, if the
        // bounds are the ones the job declares.
        const auto& bounds = fam->options().buckets;
        if (!m.contains("buckets")) continue;
        size_t finite = 0;  // the gateway lists +Inf among the buckets
        for (const auto& [le, v] : m["buckets"].items()) finite += le != "+Inf";
        if (finite != bounds.size()) continue;
        std::vector<double> counts;
        double prev = 0;
        bool ok = true;
        for (double b : bounds) {
          double cum = -1;
          for (const auto& [le, v] : m["buckets"].items())
            if (le != "+Inf" && std::stod(le) == b) cum = std::stod(v.get<std::string>());
          if (cum < 0) ok = false;
          counts.push_back(cum - prev);
          prev = cum;
        }
        const double count = std::stod(m["count"].get<std::string>());
        counts.push_back(count - prev);
        if (ok) (void)fam->setHistogram(lv, counts, std::stod(m["sum"].get<std::string>()));
      }
    }
  }
}

int pushBody(const PushOptions& o, exporter::PushMethod method, const std::string& body) {
  auto r = exporter::push(o.target, method, body);
  if (!r) {
    std::fprintf(stderr, "bpfex push: %s\n", r.error().message().c_str());
    return 1;
  }
  if (o.verbose)
    std::fprintf(stderr, "bpfex push: %s accepted (HTTP %ld, %d attempt%s)\n",
                 std::string(exporter::pushMethodHttp(method)).c_str(), r->status, r->attempts,
                 r->attempts > 1 ? "s" : "");
  return 0;
}

// A failed job: push its failure (POST keeps the group's previous metrics),
// report, exit 3 (or 1 when even the failure could not be pushed).
int failJob(const PushOptions& o, const std::string& why, double t0) {
  std::fprintf(stderr, "bpfex push: job %s failed: %s\n", o.target.job.c_str(), why.c_str());
  const int rc = pushBody(o, exporter::PushMethod::kAdd, jobMetrics(false, base::monotonicSeconds() - t0, base::unixSeconds()));
  return rc == 0 ? 3 : 1;
}

}  // namespace

int runPush(const PushOptions& o) {
  if (o.method == exporter::PushMethod::kDelete) return pushBody(o, o.method, "");
  const double t0 = base::monotonicSeconds();
  std::string text;
  const bool lua_job = o.source.size() > 4 && o.source.substr(o.source.size() - 4) == ".lua";
  if (o.source == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    std::ifstream in(o.source);
    if (!in) {
      std::fprintf(stderr, "bpfex push: %s\n", Error::fromErrno(errno, "read " + o.source).message().c_str());
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }

  std::string body;
  if (lua_job) {
    auto rule = lua::Rule::load(o.source, text, kPushJobLimits, o.params,
                                lua::RuleKind::kJob);
    if (!rule) {
      std::fprintf(stderr, "bpfex push: %s\n", rule.error().message().c_str());
      return 2;
    }
    metrics::Registry reg;
    if (auto st = rule.value()->bind(reg); !st) {
      std::fprintf(stderr, "bpfex push: %s\n", st.error().message().c_str());
      return 2;
    }
    preloadFromGateway(o, reg);
    CurlJobHost host(o.target);
    if (!o.state_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(o.state_dir, ec);
      if (ec) std::fprintf(stderr, "bpfex push: state directory %s: %s\n", o.state_dir.c_str(), ec.message().c_str());
    }
    lua::TickContext ctx{.tick = 1, .now_unix = base::unixSeconds(), .now_mono = base::monotonicSeconds(),
                         .data = nullptr, .job = &host, .state_dir = o.state_dir, .restarts = 0};
    const lua::RunResult res = rule.value()->run(ctx);
    if (res.kind != lua::ErrorKind::kNone && res.kind != lua::ErrorKind::kMetric)
      return failJob(o, res.message, t0);
    if (res.kind == lua::ErrorKind::kMetric)
      std::fprintf(stderr, "bpfex push: %zu metric writes rejected: %s\n", res.metric_errors, res.message.c_str());
    metrics::Buffer b;
    metrics::renderRegistry(reg, metrics::Format::kText004, b);
    body = std::string(b.view());
    if (!rule.value()->jobFailure().empty()) {
      // A failure the job recorded itself: its metrics go out with POST, so
      // the group keeps the last success time of an earlier run.
      std::fprintf(stderr, "bpfex push: job %s failed: %s\n", o.target.job.c_str(),
                   rule.value()->jobFailure().c_str());
      body += jobMetrics(false, base::monotonicSeconds() - t0, base::unixSeconds());
      const int rc = pushBody(o, exporter::PushMethod::kAdd, body);
      return rc == 0 ? 3 : 1;
    }
  } else {
    metrics::TextValidation v{.forbid_timestamps = true, .forbidden_labels = {"job"}};
    for (const auto& [k, val] : o.target.grouping) v.forbidden_labels.insert(k);
    auto st = metrics::validateText004(text, o.source == "-" ? "stdin" : o.source, v);
    if (!st) {
      std::fprintf(stderr, "bpfex push: %s\n", st.error().message().c_str());
      const int rc = failJob(o, "invalid exposition input", t0);
      return rc == 3 ? 2 : rc;
    }
    body = text;
  }
  body += jobMetrics(true, base::monotonicSeconds() - t0, base::unixSeconds());
  return pushBody(o, o.method, body);
}

}  // namespace bpfex::daemon
