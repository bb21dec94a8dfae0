#include "base/clock.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <ctime>

namespace bpfex::base {

std::string rfc3339(double t, int frac_digits) {
  if (t <= 0) return "0001-01-01T00:00:00Z";
  const int digits = frac_digits >= 0 ? std::min(frac_digits, 9) : 9;
  const auto scale = static_cast<int64_t>(std::pow(10.0, digits));
  double whole = std::floor(t);
  auto units = static_cast<int64_t>(std::llround((t - whole) * static_cast<double>(scale)));
  if (units >= scale) {
    whole += 1;
    units = 0;
  }
  const auto nanos = static_cast<uint32_t>(units * static_cast<int64_t>(std::pow(10.0, 9 - digits)));
  return formatUtc(static_cast<int64_t>(whole), nanos, 'T', frac_digits) + "Z";
}

std::string formatUtc(int64_t seconds, uint32_t nanos, char sep, int frac_digits) {
  const auto secs = static_cast<time_t>(seconds);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  const char format[] = {'%', 'Y', '-', '%', 'm', '-', '%', 'd', sep, '%', 'H', ':', '%', 'M', ':', '%', 'S', '\0'};
  char buf[48];
  std::string out(buf, std::strftime(buf, sizeof buf, format, &tm));
  char f[16];
  std::snprintf(f, sizeof f, "%09u", nanos % 1000000000u);
  std::string fs(f);
  if (frac_digits < 0) {
    while (!fs.empty() && fs.back() == '0') fs.pop_back();
  } else {
    fs.resize(static_cast<size_t>(std::min(frac_digits, 9)));
  }
  if (!fs.empty()) out += "." + fs;
  return out;
}

Result<double> parseDuration(std::string_view s) {
  auto quoted = [](std::string_view v) { return "\"" + std::string(v) + "\""; };
  if (s.empty()) return Error::msg("empty duration");
  size_t unit_pos = s.size();
  while (unit_pos > 0 && !(s[unit_pos - 1] >= '0' && s[unit_pos - 1] <= '9') && s[unit_pos - 1] != '.') --unit_pos;
  const std::string number(s.substr(0, unit_pos));
  const std::string_view unit = s.substr(unit_pos);
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end);
  if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(v) || v < 0)
    return Error::msg(quoted(s) + " is not a duration (e.g. 5s, 250ms, 2m)");
  double mult;
  if (unit.empty() || unit == "s") mult = 1;
  else if (unit == "ms") mult = 1e-3;
  else if (unit == "m") mult = 60;
  else if (unit == "h") mult = 3600;
  else if (unit == "d") mult = 86400;
  else return Error::msg(quoted(s) + ": unknown unit " + quoted(unit) + " (use ms, s, m, h, d)");
  return v * mult;
}

std::string formatSeconds(double seconds) {
  char buf[64];
  if (seconds > 0 && seconds < 1) std::snprintf(buf, sizeof buf, "%gms", seconds * 1000);
  else std::snprintf(buf, sizeof buf, "%gs", seconds);
  return buf;
}

}  // namespace bpfex::base
