#include "daemon/server.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iterator>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "bpf/object.h"
#include "daemon/endpoints.h"
#include "daemon/health.h"
#include "daemon/remote_write_component.h"
#include "daemon/status_page.h"
#include "engine/bpf_data_source.h"
#include "engine/bpf_runtime.h"
#include "engine/engine.h"
#include "engine/rule_engine.h"
#include "engine/process_collector.h"
#include "export/http_server.h"
#include "export/alertmanager.h"
#include "export/periodic_push.h"
#include "lua/watchdog.h"
#include "metrics/registry.h"
#include "metrics/reserved.h"
#include "metrics/snapshot.h"
#include "version.h"

namespace bpfex::daemon {

using base::Error;
using base::Status;
using metrics::FamilyOptions;
using metrics::MetricType;

namespace {

// The number of earlier starts with this state directory (the file "starts"
// holds the count, rewritten atomically). Without a usable directory: 0.
uint64_t countStart(const std::string& dir) {
  if (dir.empty()) return 0;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = dir + "/starts";
  uint64_t before = 0;
  if (auto text = base::readFile(path, 64)) before = std::strtoull(text->c_str(), nullptr, 10);
  if (auto st = base::writeFileAtomic(path, std::to_string(before + 1) + "\n"); !st) {
    BPFEX_LOG_WARN("state_dir {}: {}: restarts are not counted", dir, st.error().message());
    return 0;
  }
  return before;
}

// Copies the HTTP server's counters into the registry, once per tick.
base::Result<engine::Collector> makeHttpCollector(metrics::Registry& r,
                                                  const exporter::HttpServer* const* server) {
  auto* requests = metrics::selfFamily(r, {.name = "bpfex_http_requests_total",
                            .help = "HTTP requests answered, by route and status code.",
                            .type = MetricType::kCounter,
                            .label_names = {"handler", "code"}});
  std::vector<double> buckets(exporter::HttpStats::kBuckets.begin(), exporter::HttpStats::kBuckets.end());
  auto* scrape = metrics::selfFamily(r, {.name = "bpfex_scrape_duration_seconds",
                          .help = "Time from a /metrics request to its last byte handed to the kernel.",
                          .unit = "seconds",
                          .type = MetricType::kHistogram,
                          .buckets = buckets});
  auto* bytes = metrics::selfFamily(r, {.name = "bpfex_scrape_bytes_total",
                         .help = "Body bytes sent in /metrics responses.",
                         .unit = "bytes",
                         .type = MetricType::kCounter});
  auto* refused = metrics::selfFamily(r, {.name = "bpfex_http_refused_total",
                           .help = "Requests the web config's guard refused, by reason: auth (401), "
                                   "client_cert (403), rate_limit (429).",
                           .type = MetricType::kCounter,
                           .label_names = {"reason"}});
  auto* web_reloads = metrics::selfFamily(r, {.name = "bpfex_http_web_config_reloads_total",
                               .help = "Re-reads of the web config after one of its files changed, by result.",
                               .type = MetricType::kCounter,
                               .label_names = {"result"}});
  auto* web_ok = metrics::selfFamily(r, {.name = "bpfex_http_web_config_last_reload_successful",
                          .help = "Whether the web config in force is the newest on disk (0: a change did not parse)."});
  return engine::Collector([server, req = requests, scr = scrape, byt = bytes, ref = refused, wr = web_reloads,
                            wok = web_ok](metrics::Registry&) -> Status {
    if (*server == nullptr) return base::okStatus();
    const exporter::WebGuard::Stats g = (*server)->guardStats();
    (void)ref->set({"auth"}, static_cast<double>(g.auth_failures));
    (void)ref->set({"client_cert"}, static_cast<double>(g.cert_rejections));
    (void)ref->set({"rate_limit"}, static_cast<double>(g.rate_limited));
    (void)wr->set({"ok"}, static_cast<double>(g.reloads));
    (void)wr->set({"error"}, static_cast<double>(g.reload_errors));
    (void)wok->set({}, g.last_reload_ok ? 1 : 0);
    const exporter::HttpStats s = (*server)->stats();
    for (const auto& rc : s.requests) {
      const std::string code = std::to_string(rc.code);
      if (auto st = req->set({rc.route, code}, static_cast<double>(rc.count)); !st) return st;
    }
    std::vector<double> counts(s.scrape_buckets.begin(), s.scrape_buckets.end());
    if (auto st = scr->setHistogram({}, counts, s.scrape_seconds_sum); !st) return st;
    return byt->set({}, static_cast<double>(s.scrape_bytes));
  });
}

// The global external_labels, with alerting.external_labels over them.
engine::LabelMap alertExternalLabels(const Config& cfg) {
  engine::LabelMap out(cfg.external_labels.begin(), cfg.external_labels.end());
  for (const auto& [k, v] : cfg.alerting.external_labels) out[k] = v;
  return out;
}

}  // namespace

lua::RuleLimits ruleLimitsOf(const Config& cfg) {
  return {.time_budget_seconds = ruleTimeBudget(cfg),
          .memory_bytes = cfg.rule_limits.memory_bytes,
          .max_families = cfg.rule_limits.max_families};
}

int runDaemon(const Config& initial_cfg, ConfigLoader reload_config) {
  Config cfg = initial_cfg;
  // Block the shutdown signals in every thread; the main thread waits for them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);


  metrics::Registry registry({.max_series = cfg.exposition.max_series,
                              .max_series_per_family = cfg.exposition.max_series_per_family});
  metrics::Publisher publisher;
  engine::Engine eng(registry, publisher,
                     {.tick_interval_seconds = cfg.tick_interval_seconds,
                      .gzip_level = cfg.exposition.gzip_level});

  auto* build = metrics::selfFamily(registry, {.name = "bpfex_build_info",
                                .help = "bpfex version and source revision; always 1.",
                                .type = MetricType::kInfo,
                                .label_names = {"version", "revision"}});
  if (!build->setInfo({kVersion, kRevision})) {
    BPFEX_LOG_ERROR("build_info: cannot register");
    return 1;
  }
  auto proc = engine::makeProcessCollector(registry);
  if (!proc) {
    BPFEX_LOG_ERROR("process collector: {}", proc.error().message());
    return 1;
  }
  eng.addCollector("process", std::move(proc).value());

  engine::BpfRuntime bpf_runtime;
  bpf_runtime.start(cfg.bpf);
  // Interfaces that appear or go while bpfex runs: applied on the engine
  // thread as soon as the kernel tells (pattern attach specs only).
  bpf_runtime.watchLinks([&eng](std::function<void()> fn) { eng.post(std::move(fn)); });
  auto bpf_collector = bpf_runtime.makeCollector(registry, eng);
  if (!bpf_collector) {
    BPFEX_LOG_ERROR("bpf collector: {}", bpf_collector.error().message());
    return 1;
  }
  eng.addCollector("bpf", std::move(bpf_collector).value());
  if (!cfg.bpf.ebpf_exporter.empty()) {  // ebpf_exporter's configurations (docs/ebpf-exporter.md)
    auto ee = engine::makeEbpfExporterCollector(registry, bpf_runtime, eng, cfg.bpf.ebpf_exporter,
                                                cfg.bpf.ebpf_exporter_prefix);
    if (!ee) {
      BPFEX_LOG_ERROR("ebpf_exporter: {}", ee.error().message());
      return 1;
    }
    eng.addCollector("ebpf_exporter", std::move(ee).value());
  }
  eng.setReadClock([&bpf_runtime] { return bpf_runtime.readTotals(); });

  // Rules. A rule set that fails to load at startup is reported like a failed
  // reload (bpfex_config_last_reload_successful 0, /rules, the log); the
  // daemon still serves its own and BPF metrics, and a fixed set can be
  // loaded with SIGHUP or POST /-/reload without a restart.
  engine::BpfDataSource data(bpf_runtime);
  engine::RuleEngine rules(registry, &data, ruleLimitsOf(cfg));
  rules.setParams(cfg.rule_params);
  rules.setState(cfg.state_dir, countStart(cfg.state_dir), cfg.alerting.for_grace_period_seconds,
                 cfg.alerting.for_outage_tolerance_seconds);
  rules.setTickInterval(cfg.tick_interval_seconds);

  // Alert delivery: a notifier thread per daemon, fed after each evaluation.
  std::unique_ptr<exporter::AlertmanagerNotifier> notifier;
  if (!cfg.alerting.alertmanagers.empty()) {
    exporter::HttpClientOptions am{.timeout_seconds = cfg.alerting.timeout_seconds,
                                   .username = cfg.alerting.username,
                                   .ca_file = cfg.alerting.ca_file,
                                   .cert_file = cfg.alerting.cert_file,
                                   .key_file = cfg.alerting.key_file,
                                   .insecure_skip_verify = cfg.alerting.insecure,
                                   .user_agent = std::string("bpfex/") + kVersion};
    if (const char* pw = std::getenv("BPFEX_ALERTING_PASSWORD")) am.password = pw;
    notifier = std::make_unique<exporter::AlertmanagerNotifier>(exporter::NotifierOptions{
        .urls = cfg.alerting.alertmanagers, .timeout_seconds = cfg.alerting.timeout_seconds, .client = am});
    auto hp = exporter::parseListenAddress(cfg.listen);
    const std::string generator = cfg.alerting.external_url.empty()
                                      ? "http://" + hp->first + ":" + std::to_string(hp->second) + "/api/v1/rules"
                                      : cfg.alerting.external_url + "/api/v1/rules";
    rules.setAlertSink(
        [n = notifier.get(), generator](std::vector<engine::RuleEngine::SentAlert> alerts) {
          std::vector<exporter::AmAlert> out;
          for (auto& a : alerts)
            out.push_back({std::move(a.labels), std::move(a.annotations), a.starts_at, a.ends_at, generator});
          n->enqueue(std::move(out));
        },
        {.resend_delay_seconds = cfg.alerting.resend_delay_seconds,
         .external_labels = alertExternalLabels(cfg)});
    auto* sent = metrics::selfFamily(registry, {.name = "bpfex_notifications_sent_total", .help = "Alerts delivered to Alertmanagers.",
                                 .type = MetricType::kCounter});
    auto* errs = metrics::selfFamily(registry, {.name = "bpfex_notifications_errors_total",
                                 .help = "Failed deliveries to Alertmanagers (requests).", .type = MetricType::kCounter});
    auto* dropped = metrics::selfFamily(registry, {.name = "bpfex_notifications_dropped_total",
                                    .help = "Alerts dropped from a full notification queue.", .type = MetricType::kCounter});
    auto* queued = metrics::selfFamily(registry, {.name = "bpfex_notifications_queue_length", .help = "Alerts waiting to be sent."});
    auto* last_ok = metrics::selfFamily(registry, {.name = "bpfex_notifications_last_success_timestamp_seconds",
                                    .help = "When an Alertmanager last accepted alerts (Unix seconds; 0: never).",
                                    .unit = "seconds"});
    eng.addCollector("notifier", [n = notifier.get(), s = sent, e = errs, d = dropped, q = queued,
                                  l = last_ok](metrics::Registry&) {
        const exporter::NotifierStats st = n->stats();
        (void)l->set({}, st.last_success_unix);
        (void)s->set({}, static_cast<double>(st.sent));
        (void)e->set({}, static_cast<double>(st.errors));
        (void)d->set({}, static_cast<double>(st.dropped));
        (void)q->set({}, static_cast<double>(st.queued));
        return base::okStatus();
      });
  }
  rules.setMaxFamiliesTotal(cfg.rule_limits.max_families_total);
  // The first load runs on the engine thread, before its first tick: the
  // main thread goes straight on to serve and to wait for signals, so a
  // slow or hostile rule can delay readiness by its budget at most, and
  // never SIGTERM.
  eng.post([&rules, rule_paths = cfg.rules] { (void)rules.reload(rule_paths); });
  eng.addCollector("rules", rules.collector(eng), engine::Phase::kRules);

  // Reload: runs on the engine thread; the caller gets the outcome.
  std::mutex cfg_mu;
  auto doReload = [&]() -> Status {
    auto next = reload_config();
    if (!next) {
      BPFEX_LOG_ERROR("reload: {}", next.error().message());
      return std::move(next).error();
    }
    {
      std::lock_guard lock(cfg_mu);
      if (next->listen != cfg.listen || next->metrics_path != cfg.metrics_path)
        BPFEX_LOG_WARN("reload: listen and metrics_path take effect at the next restart");
      if (next->bpf.objects.size() != cfg.bpf.objects.size() || next->bpf.maps.size() != cfg.bpf.maps.size())
        BPFEX_LOG_WARN("reload: BPF objects and maps stay as loaded; changes take effect at the next restart");
      (void)base::setLogLevel(next->log_level);
      rules.setLimits(ruleLimitsOf(next.value()));
      rules.setMaxFamiliesTotal(next->rule_limits.max_families_total);
      rules.setParams(next->rule_params);
    }
    auto st = rules.reload(next->rules);
    if (st) {
      std::lock_guard lock(cfg_mu);
      cfg.rules = next->rules;
      BPFEX_LOG_INFO("reload: done");
    }
    return st;
  };
  // Set at shutdown: HTTP handlers waiting for the engine give up at once
  // (the engine stops, and libmicrohttpd waits for its handlers to return).
  std::atomic<bool> stopping{false};
  auto reloadOnEngine = [&]() -> Status {
    auto done = std::make_shared<std::promise<Status>>();
    auto fut = done->get_future();
    eng.post([&doReload, done] { done->set_value(doReload()); });
    for (int waited = 0; fut.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready; ++waited) {
      if (stopping.load()) return Error::msg("reload: bpfex is shutting down");
      if (waited >= 600) return Error::msg("reload: the engine did not answer within 60 s");
    }
    return fut.get();
  };

  const exporter::HttpServer* server_ptr = nullptr;
  auto http = makeHttpCollector(registry, &server_ptr);
  if (!http) {
    BPFEX_LOG_ERROR("http collector: {}", http.error().message());
    return 1;
  }
  eng.addCollector("http", std::move(http).value());

  // The status page: the same documents /rules and /api/v1/alerts serve, and
  // the self-metrics of the last published exposition.
  const double started_unix = base::unixSeconds();
  std::vector<exporter::Route> routes;
  routes.push_back({"/", {"GET"}, [&cfg, &cfg_mu, &rules, &publisher, started_unix](const exporter::HttpRequest&) {
                      Config now_cfg;
                      {
                        std::lock_guard lock(cfg_mu);  // a reload may be changing it
                        now_cfg = cfg;
                      }
                      StatusInputs in;
                      in.config = &now_cfg;
                      in.now_unix = base::unixSeconds();
                      in.started_unix = started_unix;
                      in.rules_json = rules.statusJson();
                      in.alerts_json = rules.alertsJson();
                      auto snap = publisher.current();
                      if (snap) {
                        in.ticks = snap->tick;
                        in.last_tick_unix = snap->unix_time;
                        in.series = snap->series;
                        if (const metrics::Buffer* b = snap->body(metrics::Format::kText004, false)) in.exposition = b->view();
                      }
                      return exporter::HttpResponse{200, "text/html; charset=utf-8", renderStatusPage(in), {}};
                    }});
  routes.push_back({"/api/v1/alerts", {"GET"}, [&rules](const exporter::HttpRequest&) {
                      return exporter::HttpResponse{200, "application/json", rules.alertsJson(), {}};
                    }});
  routes.push_back({"/api/v1/rules", {"GET"}, [&rules](const exporter::HttpRequest&) {
                      return exporter::HttpResponse{200, "application/json", rules.rulesJson(), {}};
                    }});
  routes.push_back({"/rules", {"GET"}, [&rules](const exporter::HttpRequest&) {
                      return exporter::HttpResponse{200, "application/json", rules.statusJson(), {}};
                    }});
  if (cfg.http.enable_reload) {
    routes.push_back({"/-/reload", {"POST", "PUT"}, [&reloadOnEngine](const exporter::HttpRequest&) {
                        auto st = reloadOnEngine();
                        if (st) return exporter::HttpResponse{200, "text/plain; charset=utf-8", "reloaded\n", {}};
                        return exporter::HttpResponse{500, "text/plain; charset=utf-8",
                                                      "reload refused what follows; everything else is loaded, and a refused file that ran before keeps its last good version:\n" +
                                                          st.error().message() + "\n", {}};
                      }});
  }
  // /health reads the server it is served by: set once it listens.
  std::atomic<const exporter::HttpServer*> health_server{nullptr};
  routes.push_back({"/health", {"GET"}, [&publisher, &health_server, stale = healthStaleAfter(cfg)](
                                            const exporter::HttpRequest&) {
                      HealthInput in;
                      in.now_unix = base::unixSeconds();
                      in.stale_after_seconds = stale;
                      if (const exporter::HttpServer* srv = health_server.load()) {
                        in.port = srv->port();
                        for (const auto& rc : srv->stats().requests) in.requests += rc.count;
                      }
                      if (auto snap = publisher.current()) {
                        in.collections = snap->tick;
                        in.last_collection_unix = snap->unix_time;
                        in.series = snap->series;
                      }
                      HealthResponse h = health(in);
                      return exporter::HttpResponse{h.status, "application/json", std::move(h.body), {}};
                    }});
  routes.push_back({"/status/tick", {"GET"}, [&publisher](const exporter::HttpRequest&) {
                      auto snap = publisher.current();
                      return exporter::HttpResponse{200, "application/json",
                                                    tickStatus(snap ? &snap->stats : nullptr, snap ? snap->tick : 0), {}};
                    }});
  routes.push_back({"/healthz", {"GET"}, [](const exporter::HttpRequest&) {
                      return exporter::HttpResponse{200, "text/plain; charset=utf-8", "ok\n", {}};
                    }});
  routes.push_back({"/readyz", {"GET"}, [&publisher](const exporter::HttpRequest&) {
                      if (publisher.ready())
                        return exporter::HttpResponse{200, "text/plain; charset=utf-8", "ready\n", {}};
                      return exporter::HttpResponse{503, "text/plain; charset=utf-8",
                                                    "not ready: the first collection tick has not finished\n", {}};
                    }});

  // The route table is what endpoints.h says, so metrics_path's check
  // (validateConfig) covers every endpoint there is.
  for (const auto& r : routes)
    if (std::find(std::begin(kEndpoints), std::end(kEndpoints), r.path) == std::end(kEndpoints)) {
      BPFEX_LOG_ERROR("route {} is not in daemon/endpoints.h: metrics_path could shadow it", r.path);
      return 1;
    }

  exporter::WebConfig web;
  if (!cfg.web_config_file.empty()) {
    auto w = exporter::loadWebConfig(cfg.web_config_file);
    if (!w) {
      BPFEX_LOG_ERROR("{}", w.error().message());
      return 1;
    }
    web = std::move(w).value();
  }
  // http.enabled: false runs without a listener: rules, alerts and push
  // mode work as ever; nothing is served.
  base::Result<std::unique_ptr<exporter::HttpServer>> srv{std::unique_ptr<exporter::HttpServer>()};
  if (cfg.http.enabled)
    srv = exporter::HttpServer::start({.listen = cfg.listen,
                                          .metrics_path = cfg.metrics_path,
                                          .threads = cfg.http.threads,
                                          .max_connections = cfg.http.max_connections,
                                          .max_connections_per_ip = cfg.http.max_connections_per_ip,
                                          .timeout_seconds = static_cast<unsigned>(cfg.http.timeout_seconds),
                                          .write_timeout_seconds = static_cast<unsigned>(cfg.http.write_timeout_seconds),
                                          .max_header_bytes = cfg.http.max_header_bytes,
                                          .gzip = cfg.http.gzip,
                                          .cors_origin = cfg.http.cors_origin,
                                          .web = std::move(web)},
                                         publisher, std::move(routes));
  if (!srv) {
    BPFEX_LOG_ERROR("{}", srv.error().message());
    return 1;
  }
  server_ptr = srv.value().get();
  health_server.store(server_ptr);

  // Optional push mode (hosts that cannot be scraped): its own thread.
  std::unique_ptr<exporter::PeriodicPusher> pusher;
  if (!cfg.push.gateway.empty()) {
    exporter::PeriodicPushOptions po;
    po.target = pushTargetOf(cfg.push);
    po.interval_seconds = cfg.push.interval_seconds;
    po.families = cfg.push.families;
    po.on_shutdown = cfg.push.on_shutdown;
    pusher = std::make_unique<exporter::PeriodicPusher>(publisher, std::move(po));
    auto* pushes = metrics::selfFamily(registry, {.name = "bpfex_push_total", .help = "Pushes of the daemon's push mode, by result.",
                                   .type = MetricType::kCounter, .label_names = {"result"}});
    auto* last = metrics::selfFamily(registry, {.name = "bpfex_push_last_success_timestamp_seconds",
                                 .help = "When the daemon's push mode last pushed successfully.", .unit = "seconds"});
    eng.addCollector("push", [p = pusher.get(), f = pushes, l = last](metrics::Registry&) {
        const exporter::PushStats s = p->stats();
        (void)f->set({"ok"}, static_cast<double>(s.ok));
        (void)f->set({"failed"}, static_cast<double>(s.failed));
        (void)f->set({"skipped"}, static_cast<double>(s.skipped));
        if (s.last_success_unix > 0) (void)l->set({}, s.last_success_unix);
        return base::okStatus();
      });
    pusher->start();
    BPFEX_LOG_INFO("push mode: {} every {} s (job {})", cfg.push.gateway, cfg.push.interval_seconds, cfg.push.job);
  }

  // Remote write: every tick to the configured receivers, on its own threads.
  auto remote_write = RemoteWriteComponent::create(cfg, registry, eng);
  if (!remote_write) {
    BPFEX_LOG_ERROR("{}", remote_write.error().message());
    return 1;
  }

  std::promise<void> engine_done;
  auto engine_stopped = engine_done.get_future();
  std::jthread engine_thread([&eng, &engine_done](std::stop_token st) {
    eng.run(st);
    engine_done.set_value();
  });

  if (srv.value()) {
    auto hp = exporter::parseListenAddress(cfg.listen);
    std::string host = hp->first;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    std::printf("bpfex %s: serving %s://%s:%u%s (tick %.3gs); Ctrl-C stops\n", kVersion,
                srv.value()->tls() ? "https" : "http", host.c_str(), srv.value()->port(), cfg.metrics_path.c_str(),
                cfg.tick_interval_seconds);
    BPFEX_LOG_INFO("listening on {}:{}", host, srv.value()->port());
  } else {
    std::printf("bpfex %s: collecting without an HTTP listener (http.enabled: false; tick %.3gs); Ctrl-C stops\n",
                kVersion, cfg.tick_interval_seconds);
    BPFEX_LOG_INFO("http.enabled is false: no listener");
  }
  std::fflush(stdout);

  for (;;) {
    int sig = 0;
    if (sigwait(&sigs, &sig) != 0) continue;
    if (sig == SIGHUP) {
      BPFEX_LOG_INFO("SIGHUP: reloading configuration and rules");
      eng.post([&doReload] { (void)doReload(); });
      continue;
    }
    BPFEX_LOG_INFO("signal {}: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    break;
  }
  // Shutdown is bounded whatever a rule is doing: the running rule (a tick
  // or a load) is aborted now, later ones at once, and if the engine is
  // still not back in 1.5 s (a rule inside a long C call: a pathological
  // string pattern), the process exits without waiting for it.
  stopping.store(true);
  lua::Watchdog::shared().abortAll();
  engine_thread.request_stop();
  if (engine_stopped.wait_for(std::chrono::milliseconds(1500)) != std::future_status::ready) {
    BPFEX_LOG_ERROR("the engine did not stop within 1.5 s (a rule stuck in a C call?); exiting without it");
    std::fflush(nullptr);
    std::_Exit(1);
  }
  engine_thread.join();
  if (pusher) pusher->stop();  // the final push, from the last snapshot
  // What is queued, and stale markers for the last tick's series, within 5 s.
  if (remote_write.value()) remote_write.value()->stop(5);
  server_ptr = nullptr;
  health_server.store(nullptr);
  srv.value().reset();
  bpf_runtime.stop();
  BPFEX_LOG_INFO("stopped");
  return 0;
}

}  // namespace bpfex::daemon
