// Clocks. The engine takes a Clock so alert timing and rate windows can be
// tested with a controllable clock; production code uses SystemClock.
#pragma once

#include <chrono>
#include <cstdint>

namespace bpfex::base {

// Monotonic seconds as a double: what tick scheduling and durations use.
inline double monotonicSeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Wall-clock Unix seconds: what exposition (start times, timestamps) uses.
inline double unixSeconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

inline int64_t monotonicNanos() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace bpfex::base
