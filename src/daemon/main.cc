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
#include "daemon/settings.h"
#include "daemon/rule_test.h"
#include "daemon/server.h"
#include "version.h"

namespace {

struct Flags {
  std::string config;
  std::vector<std::string> rules;
  // The schema's settings that have a flag (settings.h), by key; a bool
  // flag given is "true".
  std::map<std::string, std::string> values;
  std::map<std::string, bool> switches;
};

void addCommonFlags(CLI::App* cmd, Flags& f) {
  cmd->add_option("-c,--config", f.config, "YAML config file (default: $BPFEX_CONFIG)");
  cmd->add_option("-r,--rules", f.rules, "rule file or directory (repeatable; replaces the config's list)")
      ->allow_extra_args(false);
  for (const bpfex::daemon::Setting& s : bpfex::daemon::settings()) {
    if (s.flag.empty() || std::holds_alternative<std::monostate>(s.field)) continue;
    const std::string help = std::string(s.key) + ": " + std::string(s.doc.substr(0, s.doc.find(';')));
    if (std::holds_alternative<bool& (*)(bpfex::daemon::Config&)>(s.field))
      cmd->add_flag(std::string(s.flag), f.switches[std::string(s.key)], help);
    else
      cmd->add_option(std::string(s.flag), f.values[std::string(s.key)], help);
  }
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
  if (!f.rules.empty()) cfg.rules = f.rules;
  for (const bpfex::daemon::Setting& s : bpfex::daemon::settings()) {
    const std::string key(s.key);
    if (auto it = f.switches.find(key); it != f.switches.end() && it->second) {
      (void)bpfex::daemon::parseSetting(s, "true", cfg);
      cfg.origins[key] = std::string(s.flag);
    }
    if (auto it = f.values.find(key); it != f.values.end() && !it->second.empty()) {
      if (auto st = bpfex::daemon::parseSetting(s, it->second, cfg); !st)
        return Error::msg(std::string(s.flag) + ": " + st.error().message());
      cfg.origins[key] = std::string(s.flag);
    }
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
  CLI::App* push = app.add_subcommand("push", "run a job and push its metrics to a Pushgateway");
  std::string push_config;
  push->add_option("-c,--config", push_config, "YAML config whose push: section gives defaults (flags win)");
  push->add_option("--job", push_opts.target.job, "job name (the grouping key's job)")->required();
  push->add_option("--label", push_labels, "grouping label k=v (repeatable)")->allow_extra_args(false);
  push->add_flag("--add", push_add, "POST: replace only the pushed metric names (default: PUT, replace the group)");
  push->add_flag("--delete", push_delete, "DELETE the group");
  // The push.* settings with a bpfex push flag (settings.h): over the
  // defaults and --config's push section.
  std::map<std::string, std::string> push_values;
  std::map<std::string, bool> push_switches;
  for (const bpfex::daemon::Setting& s : bpfex::daemon::settings()) {
    if (s.push_flag.empty()) continue;
    if (std::holds_alternative<bool& (*)(bpfex::daemon::Config&)>(s.field))
      push->add_flag(std::string(s.push_flag), push_switches[std::string(s.key)], std::string(s.doc));
    else
      push->add_option(std::string(s.push_flag), push_values[std::string(s.key)], std::string(s.doc));
  }
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
    // push.*: defaults, then the config file's push section, then the flags.
    bpfex::daemon::Config pc;
    if (!push_config.empty())
      if (auto st = bpfex::daemon::loadConfigFile(push_config, pc); !st) {
        std::fprintf(stderr, "bpfex push: %s\n", st.error().message().c_str());
        return 2;
      }
    for (const bpfex::daemon::Setting& s : bpfex::daemon::settings()) {
      const std::string key(s.key);
      if (auto it = push_switches.find(key); it != push_switches.end() && it->second)
        (void)bpfex::daemon::parseSetting(s, "true", pc);
      if (auto it = push_values.find(key); it != push_values.end() && !it->second.empty())
        if (auto st = bpfex::daemon::parseSetting(s, it->second, pc); !st) {
          std::fprintf(stderr, "bpfex push: %s %s: %s\n", std::string(s.push_flag).c_str(), it->second.c_str(),
                       st.error().message().c_str());
          return 2;
        }
    }
    if (pc.push.gateway.empty())
      if (const char* g = std::getenv("BPFEX_PUSH_GATEWAY")) pc.push.gateway = g;
    if (!push_labels.empty()) pc.push.labels = push_opts.target.grouping;
    const std::string job = push_opts.target.job;
    push_opts.target = bpfex::daemon::pushTargetOf(pc.push);
    push_opts.target.job = job;
    if (push_opts.target.gateway.empty()) {
      std::fprintf(stderr, "bpfex push: --gateway (or BPFEX_PUSH_GATEWAY) is required\n");
      return 2;
    }
    if (!(push_opts.target.timeout_seconds > 0)) {
      std::fprintf(stderr, "bpfex push: --timeout: not a positive duration\n");
      return 2;
    }
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
    const size_t errors = bpfex::daemon::countErrors(issues);
    if (json) {
      std::fputs(bpfex::daemon::formatIssuesJson(issues).c_str(), stdout);
      return errors == 0 ? 0 : 1;
    }
    if (!issues.empty()) std::fputs(bpfex::daemon::formatIssues(issues).c_str(), stderr);
    if (errors > 0) {
      std::fprintf(stderr, "bpfex: %zu problem%s\n", errors, errors == 1 ? "" : "s");
      return 1;
    }
    std::printf("bpfex: configuration OK\n");
    return 0;
  }
  return bpfex::daemon::runDaemon(cfg.value(), [run_flags] { return buildConfig(run_flags); });
}
