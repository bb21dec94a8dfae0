#include "base/clock.h"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace bpfex::base {

std::string rfc3339(double t, int frac_digits) {
  if (t <= 0) return "0001-01-01T00:00:00Z";
  double whole = std::floor(t);
  double frac = t - whole;
  if (frac_digits >= 0) {
    const double scale = std::pow(10.0, frac_digits);
    frac = std::round(frac * scale) / scale;
    if (frac >= 1) {
      whole += 1;
      frac = 0;
    }
  }
  const auto secs = static_cast<time_t>(whole);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char f[16];
  std::snprintf(f, sizeof f, "%.*f", frac_digits >= 0 ? frac_digits : 9, frac);
  std::string fs(f + 1);  // ".ddd"
  if (frac_digits < 0) {
    while (!fs.empty() && fs.back() == '0') fs.pop_back();
    if (fs == ".") fs.clear();
  }
  return std::string(buf) + fs + "Z";
}

}  // namespace bpfex::base
