#include "daemon/remote_write_component.h"

#include <cctype>
#include <thread>

#include "base/log.h"
#include "metrics/reserved.h"
#include "version.h"

namespace bpfex::daemon {

using metrics::MetricType;

base::Result<std::unique_ptr<RemoteWriteComponent>> RemoteWriteComponent::create(const Config& cfg,
                                                                                  metrics::Registry& r,
                                                                                  engine::Engine& eng) {
  if (cfg.remote_write.empty()) return std::unique_ptr<RemoteWriteComponent>();
  std::unique_ptr<RemoteWriteComponent> c(new RemoteWriteComponent(cfg.remote_write_memory_bytes));
  exporter::LabelPairs external(cfg.external_labels.begin(), cfg.external_labels.end());
  for (exporter::RemoteWriteOptions o : cfg.remote_write) {
    o.external_labels = external;
    o.tick_interval_seconds = cfg.tick_interval_seconds;
    o.client.user_agent = std::string("bpfex/") + kVersion;
    if (o.spool_max_bytes > 0) {
      std::string dir = o.name;
      for (char& ch : dir)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') ch = '_';
      o.spool_dir = cfg.state_dir + "/remote_write/" + dir;
    }
    c->writers_.push_back(std::make_unique<exporter::RemoteWriter>(std::move(o), c->budget_));
  }

  const std::vector<std::string> ep = {"remote_name", "url"};
  auto counter = [&](const char* name, const char* help, std::vector<std::string> extra = {}) {
    std::vector<std::string> labels = ep;
    labels.insert(labels.end(), extra.begin(), extra.end());
    return metrics::selfFamily(r, {.name = name, .help = help, .type = MetricType::kCounter, .label_names = labels});
  };
  auto gauge = [&](const char* name, const char* help, const char* unit = "") {
    return metrics::selfFamily(r, {.name = name, .help = help, .unit = unit, .type = MetricType::kGauge, .label_names = ep});
  };
  struct Families {
    metrics::Family *sent, *stale, *failed, *retried, *dropped, *bytes, *requests, *pending, *pending_bytes, *shards,
        *shards_max, *highest_sent, *highest_queued, *last_ok, *mem_limit, *mem_used, *spool_bytes;
  };
  Families f{
      counter("bpfex_remote_write_samples_total", "Samples the receiver accepted, stale markers included."),
      counter("bpfex_remote_write_stale_markers_total", "Stale markers the receiver accepted: series that left the exposition."),
      counter("bpfex_remote_write_samples_failed_total",
              "Samples in requests the receiver refused for good (a 4xx other than 429, a redirect); not retried."),
      counter("bpfex_remote_write_samples_retried_total", "Samples in requests sent again after a retryable failure."),
      counter("bpfex_remote_write_samples_dropped_total",
              "Samples dropped before the receiver had them, by reason: memory (remote_write_memory was full), "
              "shutdown (the flush at stop ran out of time; with a spool they wait on disk instead), spool_full "
              "(the spool's oldest segment went for its cap).",
              {"reason"}),
      counter("bpfex_remote_write_bytes_total", "Compressed request bytes the receiver accepted."),
      counter("bpfex_remote_write_requests_total", "Requests sent, by HTTP status (0: no reply: a connection error or timeout).",
              {"code"}),
      gauge("bpfex_remote_write_samples_pending", "Samples queued or being sent."),
      gauge("bpfex_remote_write_pending_bytes", "Bytes of queued ticks charged to remote_write_memory.", "bytes"),
      gauge("bpfex_remote_write_shards", "Shards sending in parallel now."),
      gauge("bpfex_remote_write_shards_max", "queue_config.max_shards."),
      gauge("bpfex_remote_write_highest_sent_timestamp_seconds",
            "Timestamp of the newest sample the receiver accepted (Unix seconds); behind "
            "bpfex_remote_write_highest_queued_timestamp_seconds by the sending delay.",
            "seconds"),
      gauge("bpfex_remote_write_highest_queued_timestamp_seconds", "Timestamp of the newest tick queued for sending.", "seconds"),
      gauge("bpfex_remote_write_last_success_timestamp_seconds", "When the receiver last accepted a request (Unix seconds).",
            "seconds"),
      metrics::selfFamily(r, {.name = "bpfex_remote_write_memory_limit_bytes",
                              .help = "remote_write_memory: the bytes of queued ticks all endpoints may hold.",
                              .unit = "bytes"}),
      metrics::selfFamily(r, {.name = "bpfex_remote_write_memory_used_bytes",
                              .help = "Bytes of queued ticks all endpoints hold now.",
                              .unit = "bytes"}),
      gauge("bpfex_remote_write_spool_bytes", "Bytes of the endpoint's spool on disk (0 without one).", "bytes"),
  };
  for (metrics::Family* fam : {f.sent, f.stale, f.failed, f.retried, f.dropped, f.bytes, f.requests, f.pending,
                               f.pending_bytes, f.shards, f.shards_max, f.highest_sent, f.highest_queued, f.last_ok,
                               f.mem_limit, f.mem_used, f.spool_bytes})
    if (fam == nullptr) return base::Error::msg("remote_write: cannot register its self-metrics");

  RemoteWriteComponent* self = c.get();
  eng.addCollector("remote_write", [self, f](metrics::Registry&) {
    (void)f.mem_limit->set({}, static_cast<double>(self->budget_.limit()));
    (void)f.mem_used->set({}, static_cast<double>(self->budget_.used()));
    for (const auto& w : self->writers_) {
      const exporter::RemoteWriteStats s = w->stats();
      const std::string_view name = w->options().name, url = w->options().url;
      auto d = [](uint64_t v) { return static_cast<double>(v); };
      (void)f.sent->set({name, url}, d(s.samples_sent));
      (void)f.stale->set({name, url}, d(s.stale_markers_sent));
      (void)f.failed->set({name, url}, d(s.samples_failed));
      (void)f.retried->set({name, url}, d(s.samples_retried));
      (void)f.spool_bytes->set({name, url}, d(s.spool_bytes));
      for (const char* reason : {"memory", "shutdown", "spool_full"}) {
        auto it = s.samples_dropped.find(reason);
        (void)f.dropped->set({name, url, reason}, it == s.samples_dropped.end() ? 0 : d(it->second));
      }
      (void)f.bytes->set({name, url}, d(s.bytes_sent));
      for (const auto& [code, n] : s.requests) (void)f.requests->set({name, url, std::to_string(code)}, d(n));
      (void)f.pending->set({name, url}, d(s.samples_pending));
      (void)f.pending_bytes->set({name, url}, d(s.bytes_pending));
      (void)f.shards->set({name, url}, s.shards);
      (void)f.shards_max->set({name, url}, w->options().queue.max_shards);
      (void)f.highest_sent->set({name, url}, s.highest_sent_timestamp);
      (void)f.highest_queued->set({name, url}, s.highest_queued_timestamp);
      (void)f.last_ok->set({name, url}, s.last_success_unix);
    }
    return base::okStatus();
  });
  for (const auto& w : c->writers_)
    if (w->options().send_native_histograms) eng.renderNativeHistograms(true);
  eng.addTickListener([self](const metrics::Snapshot& snap) {
    for (const auto& w : self->writers_) w->offer(snap);
  });
  for (const auto& w : c->writers_) {
    w->start();
    BPFEX_LOG_INFO("remote_write {}: sending every tick to {}", w->options().name, w->options().url);
  }
  return c;
}

RemoteWriteComponent::~RemoteWriteComponent() { stop(0); }

void RemoteWriteComponent::stop(double flush_seconds) {
  std::vector<std::thread> flushes;
  for (const auto& w : writers_) flushes.emplace_back([&w, flush_seconds] { w->stop(flush_seconds); });
  for (auto& t : flushes) t.join();
}

std::vector<RemoteWriteComponent::Endpoint> RemoteWriteComponent::endpoints() const {
  std::vector<Endpoint> out;
  for (const auto& w : writers_) out.push_back({w->options().name, w->options().url, w->stats()});
  return out;
}

}  // namespace bpfex::daemon
