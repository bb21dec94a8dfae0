#include "export/periodic_push.h"

#include "base/clock.h"
#include "base/lines.h"
#include "base/log.h"

namespace bpfex::exporter {

std::string filterFamilies(std::string_view text, const std::vector<std::regex>& patterns) {
  if (patterns.empty()) return std::string(text);
  std::string out;
  bool keep = false;
  std::string current;
  base::forEachLine(text, [&](std::string_view line) {
    std::string_view name;
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      name = line.substr(7);
      name = name.substr(0, name.find(' '));
    }
    // Families are contiguous blocks that start with HELP or TYPE.
    if (!name.empty() && name != current) {
      current = std::string(name);
      keep = false;
      for (const auto& re : patterns)
        if (std::regex_match(current, re)) keep = true;
    }
    if (keep) {
      out.append(line);
      out.push_back('\n');
    }
  });
  return out;
}

PeriodicPusher::PeriodicPusher(const metrics::Publisher& publisher, PeriodicPushOptions opts)
    : publisher_(publisher), opts_(std::move(opts)) {
  for (const auto& f : opts_.families) patterns_.emplace_back(f, std::regex::extended);
}

PeriodicPusher::~PeriodicPusher() { stop(); }

void PeriodicPusher::start() {
  if (opts_.interval_seconds > 0) thread_ = std::jthread([this](std::stop_token st) { loop(st); });
}

void PeriodicPusher::loop(std::stop_token st) {
  const auto interval = std::chrono::duration<double>(opts_.interval_seconds);
  auto next = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
  while (!st.stop_requested()) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, st, next, [] { return false; });
    }
    if (st.stop_requested()) break;
    pushOnce();
    next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
    const auto now = std::chrono::steady_clock::now();
    if (next < now) {  // a push outlasted the interval: skip, do not burst
      std::lock_guard lock(stats_mu_);
      ++stats_.skipped;
      next = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
    }
  }
}

void PeriodicPusher::pushOnce() {
  auto snap = publisher_.current();
  if (!snap) return;
  const metrics::Buffer* text = snap->body(metrics::Format::kText004, false);
  if (text == nullptr) return;
  const std::string body = filterFamilies(text->view(), patterns_);
  auto r = push(opts_.target, PushMethod::kReplace, body);
  std::lock_guard lock(stats_mu_);
  if (r) {
    ++stats_.ok;
    stats_.last_success_unix = base::unixSeconds();
  } else {
    ++stats_.failed;
    stats_.last_error = r.error().message();
    BPFEX_LOG_WARN("{}", stats_.last_error);
  }
}

void PeriodicPusher::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  } else if (!opts_.on_shutdown) {
    return;
  }
  if (opts_.on_shutdown) {
    opts_.on_shutdown = false;  // once
    pushOnce();
  }
}

PushStats PeriodicPusher::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

}  // namespace bpfex::exporter
