// AlertmanagerNotifier: delivers alerts to one or more Alertmanagers with
// POST <am>/api/v2/alerts, as Prometheus does (prometheus-semantics.md §1.6):
// JSON arrays of at most 256 alerts, from a queue of at most 10000 (the
// oldest are dropped beyond that, and counted), on its own thread with a
// timeout per request, so an Alertmanager that is down or hangs never stalls
// rule evaluation.
//
// Thread safety: enqueue() and stats() from any thread.
#pragma once

#include "export/http_client.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bpfex::exporter {

struct AmAlert {
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  double starts_at = 0;  // Unix seconds
  double ends_at = 0;
  std::string generator_url;
};

struct NotifierOptions {
  std::vector<std::string> urls;  // http(s)://host:port[/prefix]
  double timeout_seconds = 10;
  HttpClientOptions client;  // TLS and basic auth toward the Alertmanagers
  size_t capacity = 10000;
  size_t batch = 256;
};

struct NotifierStats {
  uint64_t sent = 0;     // alerts delivered (per Alertmanager)
  uint64_t errors = 0;   // failed requests
  uint64_t dropped = 0;  // alerts dropped from a full queue
  size_t queued = 0;
  double last_success_unix = 0;  // the last delivery any Alertmanager accepted; 0: none
};

class AlertmanagerNotifier {
 public:
  explicit AlertmanagerNotifier(NotifierOptions opts);
  ~AlertmanagerNotifier();
  void enqueue(std::vector<AmAlert> alerts);
  NotifierStats stats() const;

  // The JSON body for a batch (RFC3339 times with milliseconds, UTC).
  static std::string body(const std::vector<AmAlert>& alerts);

 private:
  void loop(std::stop_token st);
  NotifierOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<AmAlert> queue_;
  NotifierStats stats_;
  std::jthread thread_;
};

}  // namespace bpfex::exporter
