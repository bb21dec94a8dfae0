#include "export/alertmanager.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>

#include "base/clock.h"
#include "base/json_text.h"
#include "base/log.h"

namespace bpfex::exporter {

AlertmanagerNotifier::AlertmanagerNotifier(NotifierOptions opts) : opts_(std::move(opts)) {
  thread_ = std::jthread([this](std::stop_token st) { loop(st); });
}

AlertmanagerNotifier::~AlertmanagerNotifier() {
  thread_.request_stop();
  cv_.notify_all();
}

std::string AlertmanagerNotifier::body(const std::vector<AmAlert>& alerts) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& a : alerts)
    arr.push_back({{"labels", a.labels}, {"annotations", a.annotations}, {"startsAt", base::rfc3339(a.starts_at, 3)},
                   {"endsAt", base::rfc3339(a.ends_at, 3)}, {"generatorURL", a.generator_url}});
  return base::jsonText(arr);
}

void AlertmanagerNotifier::enqueue(std::vector<AmAlert> alerts) {
  {
    std::lock_guard lock(mu_);
    for (auto& a : alerts) {
      if (queue_.size() >= opts_.capacity) {
        queue_.pop_front();  // the oldest go first, as Prometheus' notifier does
        ++stats_.dropped;
      }
      queue_.push_back(std::move(a));
    }
    stats_.queued = queue_.size();
  }
  cv_.notify_all();
}

NotifierStats AlertmanagerNotifier::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void AlertmanagerNotifier::loop(std::stop_token st) {
  while (!st.stop_requested()) {
    std::vector<AmAlert> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, st, [this] { return !queue_.empty(); });
      if (st.stop_requested()) return;
      while (!queue_.empty() && batch.size() < opts_.batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stats_.queued = queue_.size();
    }
    const std::string payload = body(batch);
    for (const auto& base : opts_.urls) {
      std::string url = base;
      while (!url.empty() && url.back() == '/') url.pop_back();
      url += "/api/v2/alerts";
      HttpClientOptions o = opts_.client;
      o.timeout_seconds = opts_.timeout_seconds;
      o.max_response_bytes = 64u << 10;  // Alertmanager answers with a short status
      auto r = httpRequest(o, {.method = "POST", .url = url, .body = payload,
                               .headers = {"Content-Type: application/json"}});
      std::lock_guard lock(mu_);
      if (r && r->status >= 200 && r->status < 300) {
        stats_.sent += batch.size();
        stats_.last_success_unix = base::unixSeconds();
      } else {
        ++stats_.errors;
        BPFEX_LOG_WARN("alertmanager {}: {}", url,
                       !r ? r.error().message() : "HTTP " + std::to_string(r->status) + ": " + r->body);
      }
    }
  }
}

}  // namespace bpfex::exporter
