// bpfex: the daemon and the command-line tool.
//   bpfex run     the daemon (collection engine + /metrics)
//   bpfex check   validate config (and rules) without running
//   bpfex version
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "base/log.h"
#include "daemon/config.h"
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
};

void addCommonFlags(CLI::App* cmd, Flags& f) {
  cmd->add_option("-c,--config", f.config, "YAML config file (default: $BPFEX_CONFIG)");
  cmd->add_option("-r,--rules", f.rules, "rule file or directory (repeatable; replaces the config's list)");
  cmd->add_option("--listen", f.listen, "HTTP listen address host:port (default 127.0.0.1:9479)");
  cmd->add_option("--tick-interval", f.tick_interval, "collection interval, e.g. 5s");
  cmd->add_option("--log-level", f.log_level, "debug, info, warn or error");
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
  app.add_subcommand("version", "print the version");
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
  if (app.got_subcommand("test")) {
    (void)bpfex::base::setLogLevel("warn");
    return bpfex::daemon::runRuleTests(test_files, test_verbose);
  }
  const Flags& flags = app.got_subcommand("run") ? run_flags : check_flags;
  auto cfg = buildConfig(flags);
  if (!cfg) {
    std::fprintf(stderr, "bpfex: invalid configuration: %s\n", cfg.error().message().c_str());
    return 2;
  }
  (void)bpfex::base::setLogLevel(cfg->log_level);
  if (app.got_subcommand("check")) {
    auto st = bpfex::daemon::checkRules(cfg.value());
    if (!st) {
      std::fprintf(stderr, "bpfex: %s\n", st.error().message().c_str());
      return 1;
    }
    std::printf("bpfex: configuration OK\n");
    return 0;
  }
  return bpfex::daemon::runDaemon(cfg.value(), [run_flags] { return buildConfig(run_flags); });
}
