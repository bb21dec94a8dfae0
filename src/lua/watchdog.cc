#include "lua/watchdog.h"

#include <algorithm>
#include <chrono>

#include "base/clock.h"
#include "lua/rule.h"

namespace bpfex::lua {

Watchdog& Watchdog::shared() {
  // Never destroyed: rules may still be closed by static destructors of
  // callers, and a joined thread at exit buys nothing.
  static Watchdog* wd = new Watchdog();
  return *wd;
}

Watchdog::Watchdog() : thread_([this](std::stop_token st) { loop(st); }) {}

Watchdog::~Watchdog() {
  thread_.request_stop();
  cv_.notify_all();
}

Watchdog::Armed::~Armed() {
  if (wd_ != nullptr) wd_->disarm(id_);
}

bool Watchdog::Armed::fired() const { return wd_ != nullptr && wd_->fired(id_); }

Watchdog::Armed Watchdog::arm(Rule& rule, double seconds) {
  const int64_t now = base::monotonicNanos();
  std::lock_guard lock(mu_);
  const uint64_t id = next_id_++;
  const int64_t deadline = stopping_ ? now : now + static_cast<int64_t>(std::max(seconds, 0.0) * 1e9);
  armed_.push_back({id, &rule, deadline, false});
  ++gen_;
  cv_.notify_all();
  return Armed(this, id);
}

void Watchdog::disarm(uint64_t id) {
  std::lock_guard lock(mu_);
  std::erase_if(armed_, [id](const Entry& e) { return e.id == id; });
}

bool Watchdog::fired(uint64_t id) const {
  std::lock_guard lock(mu_);
  for (const Entry& e : armed_)
    if (e.id == id) return e.fired;
  return false;
}

void Watchdog::abortAll() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  for (Entry& e : armed_) e.deadline_ns = 0;
  ++gen_;
  cv_.notify_all();
}

bool Watchdog::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

void Watchdog::loop(std::stop_token st) {
  std::unique_lock lock(mu_);
  while (!st.stop_requested()) {
    const int64_t now = base::monotonicNanos();
    int64_t next = INT64_MAX;
    for (Entry& e : armed_) {
      if (e.fired) continue;
      if (e.deadline_ns <= now) {
        // Rule::abort only sets a flag and a hook (safe from any thread);
        // the entry stays until its guard disarms it, so the Rule lives.
        e.rule->abort();
        e.fired = true;
      } else {
        next = std::min(next, e.deadline_ns);
      }
    }
    const uint64_t seen = gen_;
    if (next == INT64_MAX) cv_.wait(lock, st, [&] { return gen_ != seen; });
    else cv_.wait_for(lock, st, std::chrono::nanoseconds(next - now), [&] { return gen_ != seen; });
  }
}

}  // namespace bpfex::lua
