// RemoteWriter: ships every tick's series to one remote write 1.0 endpoint
// (Mimir, Thanos Receive, Cortex, VictoriaMetrics, Prometheus' receiver),
// with the sending behaviour of Prometheus' own queue manager where it has
// one, and a hard memory bound where it has none.
//
// Pipeline. The engine offers each tick's text body (offer(): O(1), never
// blocks, never touches the network). The endpoint's sender thread takes
// the queued ticks in rounds: it reads each tick's series (the exposition
// text, remote_write_encode.h), adds a stale marker for every series the
// tick before had and this one has not, and splits them over the shards by
// series hash. Each shard posts its part in WriteRequests of at most
// max_samples_per_send samples, in order, retrying what may succeed later.
// A round ends when every shard is done with it, so every series' samples
// reach the receiver in timestamp order however many shards there are, and
// the shard count can change between rounds (adapted to the backlog).
//
// Failures, as Prometheus handles them: connection errors, timeouts, 5xx
// and 429 (unless retry_on_http_429 is false) are retried with exponential
// backoff and jitter from min_backoff to max_backoff, a Retry-After on 429
// or 503 waited out exactly; any other status is final: the batch is
// dropped and counted (failed), and the next one goes.
//
// Memory. Queued ticks are charged to a budget shared by every endpoint
// (remote_write_memory). A tick that would exceed it makes room by dropping
// the oldest tick not yet being sent (counted: dropped, reason "memory"), so
// a dead or slow receiver costs at most the budget; the engine and scrapes
// never wait for it.
//
// Thread safety: offer() from the engine thread; stats() from any thread;
// start()/stop() from the owner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "export/http_client.h"
#include "export/remote_write_encode.h"
#include "export/remote_write_spool.h"
#include "metrics/buffer.h"
#include "metrics/snapshot.h"

namespace bpfex::exporter {

struct RemoteWriteQueueConfig {
  size_t capacity = 10000;             // samples one shard takes in one round (beyond the first tick)
  unsigned min_shards = 1;
  unsigned max_shards = 50;
  size_t max_samples_per_send = 2000;  // per request
  double batch_send_deadline = 5;      // seconds a tick may wait for others to fill a request
  double min_backoff = 0.03, max_backoff = 5;
  bool retry_on_http_429 = true;
};

struct RemoteWriteOptions {
  std::string name;  // remote_name in the self-metrics; unique
  std::string url;
  double remote_timeout_seconds = 30;
  std::vector<std::string> headers;  // "Name: value", beyond the protocol's own
  std::string bearer_token;          // Authorization: Bearer
  HttpClientOptions client;          // basic auth, TLS, server_name
  RemoteWriteQueueConfig queue;
  LabelPairs external_labels;
  // send_native_histograms: native histograms also go in the histograms
  // field (off by default, as in Prometheus: a receiver without native
  // histograms enabled refuses the whole request).
  bool send_native_histograms = false;
  double tick_interval_seconds = 5;  // what the shard count adapts to
  // The spool (remote_write_spool.h): every tick written ahead to disk and
  // sent from there, so an outage or a restart loses nothing up to
  // spool_max_bytes. Off when spool_dir is empty.
  std::string spool_dir;
  uint64_t spool_max_bytes = 0;
};

// Bytes of queued ticks, over every endpoint.
class RemoteWriteBudget {
 public:
  explicit RemoteWriteBudget(size_t limit) : limit_(limit) {}
  bool tryCharge(size_t n) {
    size_t cur = used_.load();
    do {
      if (cur + n > limit_) return false;
    } while (!used_.compare_exchange_weak(cur, cur + n));
    return true;
  }
  void release(size_t n) { used_.fetch_sub(n); }
  size_t used() const { return used_.load(); }
  size_t limit() const { return limit_; }

 private:
  const size_t limit_;
  std::atomic<size_t> used_{0};
};

struct RemoteWriteStats {
  uint64_t samples_sent = 0;      // accepted by the receiver (stale markers included)
  uint64_t stale_markers_sent = 0;
  uint64_t samples_failed = 0;    // refused for good (4xx other than 429, redirects)
  uint64_t samples_retried = 0;   // in a request that was tried again
  // Before sending, by reason: memory (the budget was full), shutdown (the
  // flush at stop ran out of time; with a spool they stay on disk instead),
  // spool_full (the spool's oldest segment went for its cap).
  std::map<std::string, uint64_t> samples_dropped;
  uint64_t bytes_sent = 0;        // compressed request bodies accepted
  std::map<long, uint64_t> requests;  // by HTTP status; 0: no reply (connection error, timeout)
  uint64_t samples_pending = 0;   // queued or being sent
  uint64_t bytes_pending = 0;     // the queued ticks' text, charged to the budget
  unsigned shards = 1, shards_desired = 1;
  double highest_sent_timestamp = 0;   // Unix seconds of the newest sample accepted
  double highest_queued_timestamp = 0;  // of the newest tick offered
  double last_success_unix = 0;
  uint64_t spool_bytes = 0;          // on disk now
  uint64_t spool_recovered_ticks = 0;  // found undelivered at start
  std::string state = "idle";  // idle, sending, retrying, failing (the last batch was refused)
  std::string last_error;
};

class RemoteWriter {
 public:
  RemoteWriter(RemoteWriteOptions opts, RemoteWriteBudget& budget);
  ~RemoteWriter();
  RemoteWriter(const RemoteWriter&) = delete;
  RemoteWriter& operator=(const RemoteWriter&) = delete;

  void start();
  // A published tick. Cheap; never blocks on the sender.
  void offer(const metrics::Snapshot& tick);
  // Sends what is queued, then a stale marker for every series of the last
  // tick (bpfex stops serving them), for at most `flush_seconds`; what is
  // left then is dropped (reason "shutdown"). Then the thread ends.
  void stop(double flush_seconds);

  RemoteWriteStats stats() const;
  const RemoteWriteOptions& options() const { return opts_; }

 private:
  struct Tick {
    std::shared_ptr<const metrics::Buffer> text;
    std::shared_ptr<const metrics::Buffer> native;  // native histograms (not spooled)
    int64_t timestamp_ms = 0;
    size_t samples = 0;  // from the registry's shape (before the text is read)
    double arrived = 0;  // monotonic seconds
    bool spooled = false;  // written to the spool; `text` then released
    Spool::Location loc;
  };
  // One sample to send: its series text lives in a body the round keeps.
  struct Item {
    const char* series;
    uint32_t len;
    double value;
    int64_t timestamp_ms;
    const std::string* histogram = nullptr;  // a native histogram (series in forEachNativeHistogram's form)
  };

  void loop();
  void spoolLoop();  // writes queued ticks ahead to the spool
  void runRound(std::vector<Tick>& round, bool final_stale);
  void sendShard(size_t shard, const std::vector<Item>& items);
  // One request, retried until it is accepted, refused for good, or the
  // hard deadline passes. Returns false only in the last case.
  bool post(size_t shard, const std::string& body, size_t samples, size_t stale, int64_t newest_ms);
  bool sleepUntilOr(double until_mono);  // false: the hard deadline came first
  void dropped(const char* reason, uint64_t samples);

  RemoteWriteOptions opts_;
  RemoteWriteBudget& budget_;
  std::vector<std::unique_ptr<HttpSession>> sessions_;  // one per shard
  std::vector<std::string> headers_;

  mutable std::mutex mu_;  // guards inbox_, stopping_, stats_
  std::condition_variable cv_;
  std::deque<Tick> inbox_;
  bool stopping_ = false;
  std::atomic<double> hard_deadline_{1e300};  // monotonic seconds
  RemoteWriteStats stats_;
  unsigned shards_ = 1;

  std::unique_ptr<Spool> spool_;
  size_t unwritten_ = 0;  // inbox_ index of the first tick not yet in the spool
  std::atomic<bool> abandoned_{false};  // a round's send gave up at the hard deadline
  std::thread spool_thread_;

  // The sender thread's own: the last tick read, for stale markers.
  std::shared_ptr<const metrics::Buffer> prev_text_;
  std::vector<uint64_t> prev_hashes_;
  std::vector<std::string> prev_native_;  // the last tick's native histogram series
  std::thread thread_;
};

}  // namespace bpfex::exporter
