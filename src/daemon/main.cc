// bpfex: the daemon and the command-line tool.
//   bpfex run     the daemon (collection engine + /metrics)
//   bpfex check   validate config (and rules) without running
//   bpfex version
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "base/log.h"
#include "daemon/check.h"
#include "daemon/config.h"
#include "daemon/push_job.h"
#include "daemon/rule_test.h"
#include "daemon/server.h"
#include "version.h"

namespace {

struct Flags {
  std::string config;
  std::string listen;
  std::vector<std::string> rules;
  std::string tick_interval;
  std::string log_level;
  std::string state_dir;
  std::string web_config_file;
  bool enable_lifecycle = false;
};

void addCommonFlags(CLI::App* cmd, Flags& f) {
  cmd->add_option("-c,--config", f.config, "YAML config file (default: $BPFEX_CONFIG)");
  cmd->add_option("-r,--rules", f.rules, "rule file or directory (repeatable; replaces the config's list)")
      ->allow_extra_args(false);
  cmd->add_option("--listen", f.listen, "HTTP listen address host:port (default 127.0.0.1:9479)");
  cmd->add_option("--tick-interval", f.tick_interval, "collection interval, e.g. 5s");
  cmd->add_option("--log-level", f.log_level, "debug, info, warn or error");
  cmd->add_option("--state-dir", f.state_dir, "directory for the restart count and rules' state.* (created if missing)");
  cmd->add_option("--web.config.file", f.web_config_file,
                  "TLS, basic auth and headers for every endpoint (Prometheus exporter-toolkit format)");
  cmd->add_flag("--web.enable-lifecycle", f.enable_lifecycle, "enable POST /-/reload (also http.enable_reload)");
}

// defaults -> config file -> BPFEX_* environment -> flags -> validation.
bpfex::base::Result<bpfex::daemon::Config> buildConfig(const Flags& f) {
  using bpfex::base::Error;
  bpfex::daemon::Config cfg;
  std::string path = f.config;
  if (path.empty())
    if (const char* e = std::getenv("BPFEX_CONFIG")) path = e;
  if (!path.empty())
    if (auto st = bpfex::daemon::loadConfigFile(path, cfg); !st) return std::move(st).error();
  if (auto st = bpfex::daemon::applyEnvOverrides(cfg, bpfex::daemon::processEnv()); !st)
    return std::move(st).error();
  if (!f.listen.empty()) cfg.listen = f.listen;
  if (!f.rules.empty()) cfg.rules = f.rules;
  if (!f.log_level.empty()) cfg.log_level = f.log_level;
  if (!f.state_dir.empty()) cfg.state_dir = f.state_dir;
  if (!f.web_config_file.empty()) cfg.web_config_file = f.web_config_file;
  if (f.enable_lifecycle) cfg.http.enable_reload = true;
  if (!f.tick_interval.empty()) {
    auto d = bpfex::daemon::parseDuration(f.tick_interval);
    if (!d) return Error::msg("--tick-interval: " + d.error().message());
    cfg.tick_interval_seconds = d.value();
  }
  if (auto st = bpfex::daemon::validateConfig(cfg); !st) return std::move(st).error();
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bpfex: a scriptable eBPF metrics engine"};
  app.require_subcommand(1);
  Flags run_flags, check_flags;
  CLI::App* run = app.add_subcommand("run", "run the daemon");
  addCommonFlags(run, run_flags);
  CLI::App* check = app.add_subcommand("check", "validate the config and rules, then exit");
  addCommonFlags(check, check_flags);
  std::string check_format = "text";
  std::vector<std::string> check_jobs;
  check->add_option("--jobs", check_jobs, "push jobs to check (files or directories), as bpfex push loads them");
  check->add_option("--format", check_format, "text (one file:line: message per mistake) or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_subcommand("version", "print the version");
  bpfex::daemon::PushOptions push_opts;
  std::vector<std::string> push_labels, push_params;
  bool push_add = false, push_delete = false;
  std::string push_timeout = "10s";
  CLI::App* push = app.add_subcommand("push", "run a job and push its metrics to a Pushgateway");
  std::string push_config;
  push->add_option("-c,--config", push_config, "YAML config whose push: section gives defaults (flags win)");
  push->add_option("--gateway", push_opts.target.gateway, "Pushgateway URL, e.g. http://127.0.0.1:9091 ($BPFEX_PUSH_GATEWAY)");
  push->add_option("--job", push_opts.target.job, "job name (the grouping key's job)")->required();
  push->add_option("--label", push_labels, "grouping label k=v (repeatable)")->allow_extra_args(false);
  push->add_flag("--add", push_add, "POST: replace only the pushed metric names (default: PUT, replace the group)");
  push->add_flag("--delete", push_delete, "DELETE the group");
  push->add_option("--timeout", push_timeout, "per-request timeout (default 10s)");
  push->add_option("--retries", push_opts.target.retries, "retries on connection errors, timeouts and 5xx (default 2)");
  push->add_option("--user", push_opts.target.username, "basic auth user (password: $BPFEX_PUSH_PASSWORD)");
  push->add_option("--ca-file", push_opts.target.ca_file, "TLS CA bundle");
  push->add_option("--cert-file", push_opts.target.cert_file, "TLS client certificate");
  push->add_option("--key-file", push_opts.target.key_file, "TLS client key");
  push->add_flag("--insecure", push_opts.target.insecure_skip_verify, "do not verify the gateway's TLS certificate");
  push->add_option("--param", push_params, "job parameter k=v, read as params.k (repeatable)")->allow_extra_args(false);
  push->add_flag("-v,--verbose", push_opts.verbose, "report what was pushed");
  push->add_option("--state-dir", push_opts.state_dir, "directory of the job's state.read/state.write files");
  push->add_option("source", push_opts.source, "JOB.lua, FILE.prom, or - for stdin");
  std::vector<std::string> test_files;
  bool test_verbose = false;
  CLI::App* test = app.add_subcommand("test", "run rule unit tests (YAML files; docs/rule-tests.md)");
  test->add_option("files", test_files, "test files")->required();
  test->add_flag("-v,--verbose", test_verbose, "print every tick's series");
  CLI11_PARSE(app, argc, argv);

  bpfex::base::initLogging();
  if (app.got_subcommand("version")) {
    std::printf("bpfex %s (revision %s)\n", bpfex::kVersion, bpfex::kRevision);
    return 0;
  }
  if (app.got_subcommand("push")) {
    auto split = [](const std::string& kv, std::string* k, std::string* v) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) return false;
      *k = kv.substr(0, eq);
      *v = kv.substr(eq + 1);
      return true;
    };
    for (const auto& l : push_labels) {
      std::string k, v;
      if (!split(l, &k, &v)) {
        std::fprintf(stderr, "bpfex push: --label %s: expected name=value\n", l.c_str());
        return 2;
      }
      push_opts.target.grouping.emplace_back(k, v);
    }
    for (const auto& p : push_params) {
      std::string k, v;
      if (!split(p, &k, &v)) {
        std::fprintf(stderr, "bpfex push: --param %s: expected name=value\n", p.c_str());
        return 2;
      }
      push_opts.params[k] = v;
    }
    if (!push_config.empty()) {
      // The config file's push: section: defaults for what the flags leave unset.
      bpfex::daemon::Config fc;
      if (auto st = bpfex::daemon::loadConfigFile(push_config, fc); !st) {
        std::fprintf(stderr, "bpfex push: %s\n", st.error().message().c_str());
        return 2;
      }
      auto& t = push_opts.target;
      if (t.gateway.empty()) t.gateway = fc.push.gateway;
      if (t.username.empty()) t.username = fc.push.username;
      if (t.ca_file.empty()) t.ca_file = fc.push.ca_file;
      if (t.cert_file.empty()) t.cert_file = fc.push.cert_file;
      if (t.key_file.empty()) t.key_file = fc.push.key_file;
      t.insecure_skip_verify = t.insecure_skip_verify || fc.push.insecure;
      if (push->count("--retries") == 0) t.retries = fc.push.retries;
      if (push->count("--timeout") == 0) push_timeout = std::to_string(fc.push.timeout_seconds);
      if (push_opts.target.grouping.empty() && push_labels.empty()) t.grouping = fc.push.labels;
    }
    if (push_opts.target.gateway.empty())
      if (const char* g = std::getenv("BPFEX_PUSH_GATEWAY")) push_opts.target.gateway = g;
    if (const char* pw = std::getenv("BPFEX_PUSH_PASSWORD")) push_opts.target.password = pw;
    if (push_opts.target.gateway.empty()) {
      std::fprintf(stderr, "bpfex push: --gateway (or BPFEX_PUSH_GATEWAY) is required\n");
      return 2;
    }
    auto t = bpfex::daemon::parseDuration(push_timeout);
    if (!t || t.value() <= 0) {
      std::fprintf(stderr, "bpfex push: --timeout %s: not a positive duration\n", push_timeout.c_str());
      return 2;
    }
    push_opts.target.timeout_seconds = t.value();
    if (push_add && push_delete) {
      std::fprintf(stderr, "bpfex push: --add and --delete exclude each other\n");
      return 2;
    }
    push_opts.method = push_delete ? bpfex::exporter::PushMethod::kDelete
                       : push_add  ? bpfex::exporter::PushMethod::kAdd
                                   : bpfex::exporter::PushMethod::kReplace;
    if (!push_delete && push_opts.source.empty()) {
      std::fprintf(stderr, "bpfex push: give a source: JOB.lua, FILE.prom, or - for stdin\n");
      return 2;
    }
    (void)bpfex::base::setLogLevel("warn");
    return bpfex::daemon::runPush(push_opts);
  }
  if (app.got_subcommand("test")) {
    (void)bpfex::base::setLogLevel("warn");
    return bpfex::daemon::runRuleTests(test_files, test_verbose);
  }
  const Flags& flags = app.got_subcommand("run") ? run_flags : check_flags;
  const bool json = app.got_subcommand("check") && check_format == "json";
  auto cfg = buildConfig(flags);
  if (!cfg) {
    if (json) {
      std::fputs(bpfex::daemon::formatIssuesJson({bpfex::daemon::parseIssue(cfg.error().message())}).c_str(), stdout);
      return 2;
    }
    std::fprintf(stderr, "bpfex: invalid configuration: %s\n", cfg.error().message().c_str());
    return 2;
  }
  (void)bpfex::base::setLogLevel(cfg->log_level);
  if (app.got_subcommand("check")) {
    (void)bpfex::base::setLogLevel("error");  // the report is the output
    // Push jobs are checked as bpfex push loads them; the config and its
    // rules as the daemon would, unless only jobs were asked for.
    const bool only_jobs = !check_jobs.empty() && check_flags.rules.empty() && check_flags.config.empty();
    auto issues = only_jobs ? std::vector<bpfex::daemon::CheckIssue>{} : bpfex::daemon::checkConfig(cfg.value());
    if (!check_jobs.empty()) {
      auto more = bpfex::daemon::checkJobs(check_jobs, cfg->rule_params);
      issues.insert(issues.end(), more.begin(), more.end());
    }
    if (json) {
      std::fputs(bpfex::daemon::formatIssuesJson(issues).c_str(), stdout);
      return issues.empty() ? 0 : 1;
    }
    if (!issues.empty()) {
      std::fputs(bpfex::daemon::formatIssues(issues).c_str(), stderr);
      std::fprintf(stderr, "bpfex: %zu problem%s\n", issues.size(), issues.size() == 1 ? "" : "s");
      return 1;
    }
    std::printf("bpfex: configuration OK\n");
    return 0;
  }
  return bpfex::daemon::runDaemon(cfg.value(), [run_flags] { return buildConfig(run_flags); });
}
