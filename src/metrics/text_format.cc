#include "metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace bpfex::metrics {
namespace {

bool isNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t utf8SequenceLength(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

template <typename EscapeFn>
void appendEscaped(std::string& out, std::string_view in, EscapeFn escape) {
  size_t i = 0;
  while (i < in.size()) {
    // Copy the longest run that needs no escaping in one go.
    size_t run = i;
    while (run < in.size()) {
      const auto c = static_cast<unsigned char>(in[run]);
      if (c >= 0x80 || escape(static_cast<char>(c)) != nullptr) break;
      ++run;
    }
    out.append(in.data() + i, run - i);
    i = run;
    if (i == in.size()) break;
    const auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {
      out.append(escape(static_cast<char>(c)));
      ++i;
      continue;
    }
    const size_t n = utf8SequenceLength(in, i);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
    } else {
      out.append(in.data() + i, n);
      i += n;
    }
  }
}

const char* escapeLabel(char c) {
  switch (c) {
    case '\\': return "\\\\";
    case '"': return "\\\"";
    case '\n': return "\\n";
    default: return nullptr;
  }
}
const char* escapeHelpText(char c) {
  switch (c) {
    case '\\': return "\\\\";
    case '\n': return "\\n";
    default: return nullptr;
  }
}

}  // namespace

// Go's strconv.FormatFloat(v, 'g', prec, 64): prec significant digits, or
// the shortest that round-trip when prec < 0 (strconv/ftoa.go: %e when the
// exponent is < -4 or >= eprec; eprec is prec, 6 for shortest, and never
// more than the digits when they reach the decimal point).
std::string formatGoFloat(double v, int prec) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  const bool shortest = prec < 0;
  if (!shortest && prec < 1) prec = 1;
  char buf[64];
  // Digits in scientific form: "-d.dddde+XX".
  auto [end, ec] = shortest ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific)
                            : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific, prec - 1);
  (void)ec;
  std::string_view sci(buf, static_cast<size_t>(end - buf));
  const bool neg = sci.front() == '-';
  if (neg) sci.remove_prefix(1);
  const size_t epos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, epos))
    if (c != '.') digits.push_back(c);
  const int exp = std::atoi(std::string(sci.substr(epos + 1)).c_str());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();  // %g drops trailing zeros
  const int nd = static_cast<int>(digits.size()), dp = exp + 1;
  int eprec = shortest ? 6 : prec;
  if (eprec > nd && nd >= dp) eprec = nd;

  std::string out = neg ? "-" : "";
  if (exp < -4 || exp >= eprec) {
    out += digits[0];
    if (nd > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    out += 'e';
    out += exp < 0 ? '-' : '+';
    const int a = exp < 0 ? -exp : exp;
    if (a < 10) out += '0';
    out += std::to_string(a);
    return out;
  }
  if (dp <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-dp), '0');
    out += digits;
  } else if (dp >= nd) {
    out += digits;
    out.append(static_cast<size_t>(dp - nd), '0');
  } else {
    out.append(digits, 0, static_cast<size_t>(dp));
    out += '.';
    out.append(digits, static_cast<size_t>(dp), std::string::npos);
  }
  return out;
}

bool isValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  if (!isNameStart(name[0]) && name[0] != ':') return false;
  for (char c : name)
    if (!isNameStart(c) && !isDigit(c) && c != ':') return false;
  return true;
}

bool isValidLabelName(std::string_view name) {
  if (name.empty() || !isNameStart(name[0])) return false;
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return false;
  for (char c : name)
    if (!isNameStart(c) && !isDigit(c)) return false;
  return true;
}

void appendEscapedLabelValue(std::string& out, std::string_view value) {
  appendEscaped(out, value, escapeLabel);
}

void appendEscapedHelp(std::string& out, std::string_view help, bool openmetrics) {
  if (openmetrics) appendEscaped(out, help, escapeLabel);
  else appendEscaped(out, help, escapeHelpText);
}

char* formatValue(char* out, double v) {
  constexpr double kExactIntLimit = 9007199254740992.0;  // 2^53
  if (v >= -kExactIntLimit && v <= kExactIntLimit) {
    const auto i = static_cast<int64_t>(v);
    if (static_cast<double>(i) == v) return std::to_chars(out, out + kMaxNumberChars, i).ptr;
  }
  if (std::isnan(v)) {
    std::memcpy(out, "NaN", 3);
    return out + 3;
  }
  if (std::isinf(v)) {
    std::memcpy(out, v > 0 ? "+Inf" : "-Inf", 4);
    return out + 4;
  }
  return std::to_chars(out, out + kMaxNumberChars, v).ptr;
}

char* formatLabelNumber(char* out, double v) {
  constexpr double k2p63 = 9223372036854775808.0, k2p64 = 18446744073709551616.0;
  if (v >= -k2p63 && v < k2p64 && std::trunc(v) == v) {
    if (v < k2p63) return std::to_chars(out, out + kMaxNumberChars, static_cast<int64_t>(v)).ptr;
    return std::to_chars(out, out + kMaxNumberChars, static_cast<uint64_t>(v)).ptr;
  }
  return formatValue(out, v);
}

std::string formatCanonicalFloat(double v) {
  std::string s = formatGoFloat(v);
  if (std::isfinite(v) && s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

size_t forEachEscapedLabel(std::string_view text,
                           const std::function<void(std::string_view name, std::string_view value)>& fn) {
  size_t i = 0;
  std::string value;
  while (i < text.size() && text[i] != '}') {
    const size_t eq = text.find("=\"", i);
    if (eq == std::string_view::npos) break;
    const std::string_view name = text.substr(i, eq - i);
    value.clear();
    size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size()) {
        ++j;
        value += text[j] == 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    fn(name, value);
    i = j + 1;  // past the closing quote
    if (i < text.size() && text[i] == ',') ++i;
  }
  return i;
}

}  // namespace bpfex::metrics
