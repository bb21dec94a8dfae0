#include "export/remote_write.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "base/clock.h"
#include "base/log.h"

namespace bpfex::exporter {

namespace {

double jitter(double seconds) {
  thread_local std::minstd_rand rng(std::random_device{}());
  return seconds * (0.5 + 0.5 * std::uniform_real_distribution<double>(0, 1)(rng));
}

bool retryable(long status, bool retry_429) {
  return status == 0 || status >= 500 || (status == 429 && retry_429);
}

}  // namespace

RemoteWriter::RemoteWriter(RemoteWriteOptions opts, RemoteWriteBudget& budget)
    : opts_(std::move(opts)), budget_(budget) {
  opts_.queue.min_shards = std::max(1u, opts_.queue.min_shards);
  opts_.queue.max_shards = std::max(opts_.queue.min_shards, opts_.queue.max_shards);
  shards_ = opts_.queue.min_shards;
  sessions_.resize(opts_.queue.max_shards);
  opts_.client.timeout_seconds = opts_.remote_timeout_seconds;
  opts_.client.follow_redirects = false;  // a redirect is a misconfigured URL: refused, counted
  opts_.client.max_response_bytes = 64 << 10;
  // A request in flight when the shutdown deadline passes is abandoned.
  opts_.client.cancelled = [this] { return base::monotonicSeconds() >= hard_deadline_.load(); };
  headers_ = {"Content-Encoding: snappy", "Content-Type: application/x-protobuf",
              "X-Prometheus-Remote-Write-Version: 0.1.0"};
  if (!opts_.bearer_token.empty()) headers_.push_back("Authorization: Bearer " + opts_.bearer_token);
  for (const auto& h : opts_.headers) headers_.push_back(h);
  stats_.shards = stats_.shards_desired = shards_;
}

RemoteWriter::~RemoteWriter() { stop(0); }

void RemoteWriter::start() {
  if (thread_.joinable()) return;
  if (!opts_.spool_dir.empty() && !spool_) {
    auto sp = Spool::open(opts_.spool_dir, opts_.spool_max_bytes);
    if (!sp) {
      BPFEX_LOG_ERROR("remote_write {}: {}; sending without a spool", opts_.name, sp.error().message());
    } else {
      spool_ = std::move(sp).value();
      std::lock_guard lock(mu_);
      for (const Spool::Record& r : spool_->recovered()) {
        inbox_.push_back({nullptr, nullptr, r.timestamp_ms, r.samples, base::monotonicSeconds(), true, r.loc});
        stats_.samples_pending += r.samples;
      }
      unwritten_ = inbox_.size();
      stats_.spool_recovered_ticks = inbox_.size();
      stats_.spool_bytes = spool_->bytes();
      if (!inbox_.empty())
        BPFEX_LOG_INFO("remote_write {}: {} ticks from the spool are sent first (oldest {} ms)", opts_.name,
                       inbox_.size(), inbox_.front().timestamp_ms);
      spool_thread_ = std::thread([this] { spoolLoop(); });
    }
  }
  thread_ = std::thread([this] { loop(); });
}

void RemoteWriter::spoolLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return unwritten_ < inbox_.size() || stopping_; });
    if (unwritten_ >= inbox_.size()) return;  // stopping, and everything is written
    std::shared_ptr<const metrics::Buffer> text = inbox_[unwritten_].text;
    const int64_t ts = inbox_[unwritten_].timestamp_ms;
    const uint64_t samples = inbox_[unwritten_].samples;
    lock.unlock();
    auto loc = spool_->append(ts, samples, text->view());
    uint64_t lost = 0;
    const std::vector<uint64_t> gone = spool_->enforceCap(&lost);
    lock.lock();
    // The sender takes only written ticks, so this one is still at unwritten_.
    Tick& t = inbox_[unwritten_];
    budget_.release(text->size());
    stats_.bytes_pending -= std::min<uint64_t>(stats_.bytes_pending, text->size());
    if (!loc) {
      BPFEX_LOG_WARN("remote_write {}: {}", opts_.name, loc.error().message());
      stats_.samples_pending -= std::min<uint64_t>(stats_.samples_pending, t.samples);
      dropped("spool_full", t.samples);
      inbox_.erase(inbox_.begin() + static_cast<std::ptrdiff_t>(unwritten_));
    } else {
      t.spooled = true;
      t.loc = *loc;
      t.text.reset();
      ++unwritten_;
    }
    if (!gone.empty()) {
      // Ticks waiting in deleted segments are gone with them.
      for (size_t i = 0; i < unwritten_;) {
        if (std::find(gone.begin(), gone.end(), inbox_[i].loc.segment) == gone.end()) {
          ++i;
          continue;
        }
        stats_.samples_pending -= std::min<uint64_t>(stats_.samples_pending, inbox_[i].samples);
        inbox_.erase(inbox_.begin() + static_cast<std::ptrdiff_t>(i));
        --unwritten_;
      }
      dropped("spool_full", lost);
      BPFEX_LOG_WARN("remote_write {}: the spool is over its cap; {} undelivered samples dropped", opts_.name, lost);
    }
    stats_.spool_bytes = spool_->bytes();
    cv_.notify_all();
  }
}

void RemoteWriter::dropped(const char* reason, uint64_t samples) {
  stats_.samples_dropped[reason] += samples;  // mu_ held
}

void RemoteWriter::offer(const metrics::Snapshot& snap) {
  auto text = snap.sharedBody(metrics::Format::kText004, false);
  if (!text) return;
  Tick t{text, opts_.send_native_histograms ? snap.native_histograms : nullptr, std::llround(snap.unix_time * 1000),
         snap.samples, base::monotonicSeconds()};
  const size_t bytes = text->size();
  std::lock_guard lock(mu_);
  if (stopping_) return;
  stats_.highest_queued_timestamp = snap.unix_time;
  // Room first: the oldest waiting ticks go (the ones being sent stay).
  // With a spool the waiting ticks are on disk: only this one can go.
  while (!budget_.tryCharge(bytes)) {
    if (inbox_.empty() || spool_) {
      dropped("memory", t.samples);
      return;
    }
    budget_.release(inbox_.front().text->size());
    stats_.samples_pending -= inbox_.front().samples;
    stats_.bytes_pending -= inbox_.front().text->size();
    dropped("memory", inbox_.front().samples);
    inbox_.pop_front();
  }
  stats_.samples_pending += t.samples;
  stats_.bytes_pending += bytes;
  inbox_.push_back(std::move(t));
  cv_.notify_all();  // the sender, not a shard sleeping out a backoff
}

void RemoteWriter::loop() {
  for (;;) {
    if (base::monotonicSeconds() >= hard_deadline_.load()) return;  // stop() drops what is left
    std::vector<Tick> round;
    bool final_stale = false;
    {
      std::unique_lock lock(mu_);
      for (;;) {
        if (stopping_ && (!spool_ || unwritten_ == inbox_.size())) break;
        if (!inbox_.empty() && (!spool_ || unwritten_ > 0)) {
          // A request's worth waiting, or the oldest tick's deadline passed.
          size_t waiting = 0;
          for (const Tick& t : inbox_) waiting += t.samples;
          const double due = inbox_.front().arrived + opts_.queue.batch_send_deadline;
          if (waiting >= opts_.queue.max_samples_per_send || base::monotonicSeconds() >= due) break;
          cv_.wait_for(lock, std::chrono::duration<double>(due - base::monotonicSeconds()));
          continue;
        }
        cv_.wait(lock);
      }
      if (inbox_.empty()) {
        if (!stopping_) continue;
        final_stale = prev_text_ != nullptr;
        if (!final_stale) return;
      }
      // A round: whole ticks, at least one, up to capacity per shard.
      size_t samples = 0;
      while (!inbox_.empty() && (!spool_ || unwritten_ > 0) &&
             (round.empty() || samples + inbox_.front().samples <= opts_.queue.capacity * shards_)) {
        samples += inbox_.front().samples;
        round.push_back(std::move(inbox_.front()));
        inbox_.pop_front();
        if (spool_) --unwritten_;
      }
      stats_.state = "sending";
    }
    const double t0 = base::monotonicSeconds();
    abandoned_ = false;
    runRound(round, final_stale);
    const double took = base::monotonicSeconds() - t0;
    // Delivered or refused for good, unless the hard deadline cut it short:
    // then it stays in the spool for the next start.
    if (spool_ && !round.empty() && !abandoned_) spool_->ack(round.back().timestamp_ms);
    std::lock_guard lock(mu_);
    for (const Tick& t : round) {
      stats_.samples_pending -= std::min<uint64_t>(stats_.samples_pending, t.samples);
      if (!t.text || t.spooled) continue;  // a spooled tick's bytes were released when it was written
      budget_.release(t.text->size());
      stats_.bytes_pending -= std::min<uint64_t>(stats_.bytes_pending, t.text->size());
    }
    if (spool_) stats_.spool_bytes = spool_->bytes();
    if (stats_.state == "sending") stats_.state = "idle";
    // Shards follow the load, when the receiver is healthy (retries mean it
    // is not, and more shards would only press it harder): enough that a
    // round takes at most half a tick, doubled while ticks queue up behind;
    // one fewer when a round takes under a fifth of a tick.
    unsigned want = shards_;
    const bool healthy = stats_.state != "retrying" && stats_.state != "failing";
    const double half_tick = opts_.tick_interval_seconds / 2;
    if (healthy && took > half_tick)
      want = std::max<unsigned>(shards_ + 1, static_cast<unsigned>(std::ceil(shards_ * took / half_tick)));
    if (healthy && inbox_.size() >= 2) want = std::max(want, shards_ * 2);
    if (want == shards_ && inbox_.empty() && took < opts_.tick_interval_seconds / 5 && shards_ > opts_.queue.min_shards)
      want = shards_ - 1;
    want = std::clamp(want, opts_.queue.min_shards, opts_.queue.max_shards);
    shards_ = want;
    stats_.shards = stats_.shards_desired = shards_;
    if (final_stale) {
      prev_text_.reset();
      return;
    }
  }
}

void RemoteWriter::runRound(std::vector<Tick>& round, bool final_stale) {
  const size_t n = shards_;
  std::vector<std::vector<Item>> parts(n);
  std::vector<std::shared_ptr<const metrics::Buffer>> keep;  // bodies the items point into
  std::deque<std::string> arena;  // native histogram series and bodies the items point into
  auto addNative = [&](int64_t ts_ms, const std::shared_ptr<const metrics::Buffer>& native) {
    // This tick's native histograms; stale markers for the last tick's that it lacks.
    std::vector<std::string> now;
    if (native)
      forEachNativeHistogram(native->view(), [&](std::string_view series, std::string_view hist) {
        now.emplace_back(series);
        const std::string& key = arena.emplace_back(series);
        const std::string& h = arena.emplace_back(hist);
        parts[seriesHash(key) % n].push_back({key.data(), static_cast<uint32_t>(key.size()), 0, ts_ms, &h});
      });
    std::sort(now.begin(), now.end());
    for (const std::string& gone : prev_native_) {
      if (std::binary_search(now.begin(), now.end(), gone)) continue;
      const std::string& key = arena.emplace_back(gone);
      parts[seriesHash(key) % n].push_back({key.data(), static_cast<uint32_t>(key.size()), staleNaN(), ts_ms, &key});
    }
    prev_native_.swap(now);
  };
  std::vector<uint64_t> hashes, sorted;
  auto addStale = [&](int64_t ts_ms) {
    // Every series of the tick before that this tick (its sorted hashes) lacks.
    if (!prev_text_) return;
    keep.push_back(prev_text_);
    size_t i = 0;
    forEachTextSample(prev_text_->view(), [&](std::string_view series, double) {
      const uint64_t h = i < prev_hashes_.size() ? prev_hashes_[i] : seriesHash(series);
      ++i;
      if (!std::binary_search(sorted.begin(), sorted.end(), h))
        parts[h % n].push_back({series.data(), static_cast<uint32_t>(series.size()), staleNaN(), ts_ms});
    });
  };
  size_t expect = 0;
  for (const Tick& t : round) expect += t.samples;
  for (auto& part : parts) part.reserve(expect / n + expect / (8 * n) + 16);
  for (Tick& t : round) {
    if (!t.text && spool_) {
      auto text = spool_->read(t.loc);
      if (!text) {  // its segment went for the cap after the round took it
        std::lock_guard lock(mu_);
        dropped("spool_full", t.samples);
        continue;
      }
      t.text = std::move(text).value();
    }
    if (!t.text) continue;
    hashes.clear();
    hashes.reserve(t.samples + 64);
    keep.push_back(t.text);
    forEachTextSample(t.text->view(), [&](std::string_view series, double v) {
      const uint64_t h = seriesHash(series);
      hashes.push_back(h);
      parts[h % n].push_back({series.data(), static_cast<uint32_t>(series.size()), v, t.timestamp_ms});
    });
    if (prev_text_ && hashes != prev_hashes_) {
      sorted = hashes;
      std::sort(sorted.begin(), sorted.end());
      addStale(t.timestamp_ms);
    }
    prev_text_ = t.text;
    prev_hashes_.swap(hashes);
    if (opts_.send_native_histograms) addNative(t.timestamp_ms, t.native);
  }
  if (final_stale) {
    sorted.clear();  // nothing stays
    const int64_t now_ms = std::llround(base::unixSeconds() * 1000);
    addStale(now_ms);
    if (opts_.send_native_histograms) addNative(now_ms, nullptr);
  }
  if (n == 1) {
    sendShard(0, parts[0]);
    return;
  }
  std::vector<std::thread> threads;
  for (size_t s = 1; s < n; ++s) threads.emplace_back([this, s, &parts] { sendShard(s, parts[s]); });
  sendShard(0, parts[0]);
  for (auto& th : threads) th.join();
}

void RemoteWriter::sendShard(size_t shard, const std::vector<Item>& items) {
  WriteRequestBuilder builder(opts_.external_labels);
  size_t stale = 0;
  int64_t newest = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    const std::string_view series(it.series, it.len);
    const bool added = it.histogram != nullptr
                           ? builder.addHistogram(series, *it.histogram, it.timestamp_ms, isStaleNaN(it.value))
                           : builder.add(series, it.value, it.timestamp_ms);
    if (added) {
      stale += isStaleNaN(it.value) ? 1 : 0;
      newest = std::max(newest, it.timestamp_ms);
    }
    if (builder.samples() >= opts_.queue.max_samples_per_send || i + 1 == items.size()) {
      if (builder.samples() > 0 &&
          !post(shard, snappyCompress(builder.bytes()), builder.samples(), stale, newest)) {
        abandoned_ = true;
        if (spool_) return;  // the round stays in the spool, for the next start
        std::lock_guard lock(mu_);  // the hard deadline passed: the rest of this shard goes
        dropped("shutdown", items.size() - i - 1);
        return;
      }
      builder.clear();
      stale = 0;
    }
  }
}

bool RemoteWriter::sleepUntilOr(double until) {
  std::unique_lock lock(mu_);
  for (;;) {
    const double now = base::monotonicSeconds(), hard = hard_deadline_.load();
    if (now >= hard) return false;
    if (now >= until) return true;
    cv_.wait_for(lock, std::chrono::duration<double>(std::min(until, hard) - now));
  }
}

bool RemoteWriter::post(size_t shard, const std::string& body, size_t samples, size_t stale, int64_t newest_ms) {
  if (!sessions_[shard]) sessions_[shard] = std::make_unique<HttpSession>();
  HttpCall call{.method = "POST", .url = opts_.url, .body = body, .headers = headers_};
  double backoff = opts_.queue.min_backoff;
  for (bool first = true;; first = false) {
    if (base::monotonicSeconds() >= hard_deadline_.load()) {
      std::lock_guard lock(mu_);
      if (!spool_) dropped("shutdown", samples);
      return false;
    }
    if (!first) {
      std::lock_guard lock(mu_);
      stats_.samples_retried += samples;
    }
    auto r = sessions_[shard]->request(opts_.client, call);
    const long status = r ? r->status : 0;
    {
      std::lock_guard lock(mu_);
      ++stats_.requests[status];
      if (status >= 200 && status < 300) {
        stats_.samples_sent += samples;
        stats_.stale_markers_sent += stale;
        stats_.bytes_sent += body.size();
        stats_.highest_sent_timestamp = std::max(stats_.highest_sent_timestamp, static_cast<double>(newest_ms) / 1000);
        stats_.last_success_unix = base::unixSeconds();
        if (stats_.state == "retrying" || stats_.state == "failing")
          BPFEX_LOG_INFO("remote_write {}: {} accepts again", opts_.name, opts_.url);
        stats_.state = "sending";
        return true;
      }
      std::string why = r ? "HTTP " + std::to_string(status) : r.error().message();
      if (r && !r->body.empty()) why += ": " + r->body.substr(0, 200);
      if (r && status >= 300 && status < 400 && !r->location.empty()) why += " (redirect to " + r->location + ", not followed)";
      if (!retryable(status, opts_.queue.retry_on_http_429)) {
        // Final: this batch will never be accepted; the next one goes.
        stats_.samples_failed += samples;
        if (stats_.last_error != why) BPFEX_LOG_WARN("remote_write {}: {} samples refused for good: {}", opts_.name, samples, why);
        stats_.last_error = why;
        stats_.state = "failing";
        return true;
      }
      if (stats_.state != "retrying") BPFEX_LOG_WARN("remote_write {}: {}; retrying with backoff", opts_.name, why);
      stats_.last_error = why;
      stats_.state = "retrying";
    }
    double wait = jitter(backoff);
    if (r && (status == 429 || status == 503))
      if (auto ra = retryAfterSeconds(r->retry_after, base::unixSeconds())) wait = *ra;
    backoff = std::min(backoff * 2, opts_.queue.max_backoff);
    if (!sleepUntilOr(base::monotonicSeconds() + wait)) {
      std::lock_guard lock(mu_);
      if (!spool_) dropped("shutdown", samples);
      return false;
    }
  }
}

void RemoteWriter::stop(double flush_seconds) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      hard_deadline_.store(base::monotonicSeconds() + flush_seconds);
    } else {
      hard_deadline_.store(std::min(hard_deadline_.load(), base::monotonicSeconds() + flush_seconds));
    }
    cv_.notify_all();
  }
  if (spool_thread_.joinable()) spool_thread_.join();  // every queued tick written first
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  size_t kept = 0;
  for (const Tick& t : inbox_) {
    if (t.spooled) {
      ++kept;  // sent after the next start
      continue;
    }
    if (t.text) budget_.release(t.text->size());
    dropped("shutdown", t.samples);
  }
  if (kept > 0) BPFEX_LOG_INFO("remote_write {}: {} ticks stay in the spool for the next start", opts_.name, kept);
  inbox_.clear();
  stats_.samples_pending = stats_.bytes_pending = 0;
}

RemoteWriteStats RemoteWriter::stats() const {
  std::lock_guard lock(mu_);
  RemoteWriteStats s = stats_;
  return s;
}

}  // namespace bpfex::exporter
