// PeriodicPusher: the daemon's optional push mode, for hosts that cannot be
// scraped. On its own thread it takes the latest published snapshot (text
// 0.0.4), keeps the families whose names match the configured patterns, and
// PUTs them to the gateway every interval; stop() makes one final push.
// The engine never waits for it: a slow or dead gateway delays only this
// thread, and a push that is still running when the next is due is skipped
// (counted).
//
// Thread safety: start/stop from one thread; stats() from any.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "export/push_client.h"
#include "metrics/snapshot.h"

namespace bpfex::exporter {

struct PeriodicPushOptions {
  PushTarget target;
  double interval_seconds = 60;      // 0: only the final push at shutdown
  std::vector<std::string> families;  // regexes (whole name); empty: every family
  bool on_shutdown = true;
};

struct PushStats {
  uint64_t ok = 0, failed = 0, skipped = 0;
  double last_success_unix = 0;
  std::string last_error;
};

// Keeps the blocks of `text` (0.0.4) whose family name matches one of the
// patterns; all of it when there are none.
std::string filterFamilies(std::string_view text, const std::vector<std::regex>& patterns);

class PeriodicPusher {
 public:
  PeriodicPusher(const metrics::Publisher& publisher, PeriodicPushOptions opts);
  ~PeriodicPusher();
  void start();
  // Stops the thread; pushes once more if on_shutdown (bounded by the timeout).
  void stop();
  PushStats stats() const;

 private:
  void loop(std::stop_token st);
  void pushOnce();

  const metrics::Publisher& publisher_;
  PeriodicPushOptions opts_;
  std::vector<std::regex> patterns_;
  std::jthread thread_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  mutable std::mutex stats_mu_;
  PushStats stats_;
};

}  // namespace bpfex::exporter
