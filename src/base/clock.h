// Clocks. The engine takes a Clock so alert timing and rate windows can be
// tested with a controllable clock; production code uses SystemClock.
#pragma once

#include <string_view>

#include "base/result.h"

#include <chrono>
#include <ctime>
#include <cstdint>
#include <string>

namespace bpfex::base {

// Monotonic seconds as a double: what tick scheduling and durations use.
inline double monotonicSeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// CPU seconds the calling thread has used: what a tick's phases cost, apart
// from the time other threads and processes took the core.
inline double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// A span of wall and CPU time on one thread.
struct Stopwatch {
  double wall0 = monotonicSeconds(), cpu0 = threadCpuSeconds();
  double wall() const { return monotonicSeconds() - wall0; }
  double cpu() const { return threadCpuSeconds() - cpu0; }
};

// Wall-clock Unix seconds: what exposition (start times, timestamps) uses.
inline double unixSeconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// RFC 3339 in UTC: "2026-11-20T23:25:52.123Z". frac_digits 3 gives
// milliseconds (Alertmanager's API); -1 gives up to nanoseconds with trailing
// zeros trimmed (Prometheus' API). Non-positive times give Go's zero time.
std::string rfc3339(double unix_seconds, int frac_digits = -1);

// UTC date and time without a zone, "2026-11-20<sep>23:25:52.123", from whole
// seconds and nanoseconds (0..999999999); frac_digits as above.
// Parses a duration: a non-negative number with a unit of ms, s, m, h or d
// ("5s", "250ms", "2m", "1.5h", "1d"; no unit: seconds). The one parser for
// the configuration, flags, environment, web config and Lua rules.
Result<double> parseDuration(std::string_view s);

// A duration for people: "300ms", "1.25s", "90s" (what the configuration accepts).
std::string formatSeconds(double seconds);

std::string formatUtc(int64_t seconds, uint32_t nanos, char date_time_separator, int frac_digits = -1);

inline int64_t monotonicNanos() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace bpfex::base
