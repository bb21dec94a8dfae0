#include "export/alertmanager.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>

#include "base/clock.h"
#include "base/log.h"

namespace bpfex::exporter {

namespace {

size_t collect(char* p, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}

}  // namespace

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
  return arr.dump();
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
      CURL* c = curl_easy_init();
      if (c == nullptr) continue;
      std::string resp;
      curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/json");
      curl_easy_setopt(c, CURLOPT_URL, url.c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
      curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.timeout_seconds * 1000));
      curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
      const CURLcode rc = curl_easy_perform(c);
      long status = 0;
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
      curl_slist_free_all(h);
      curl_easy_cleanup(c);
      std::lock_guard lock(mu_);
      if (rc == CURLE_OK && status >= 200 && status < 300) {
        stats_.sent += batch.size();
      } else {
        ++stats_.errors;
        BPFEX_LOG_WARN("alertmanager {}: {}", url,
                       rc != CURLE_OK ? curl_easy_strerror(rc) : ("HTTP " + std::to_string(status) + ": " + resp).c_str());
      }
    }
  }
}

}  // namespace bpfex::exporter
