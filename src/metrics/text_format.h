// The lexical layer of the exposition formats: name rules, escaping and number
// forms (prometheus-semantics.md §2). Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace bpfex::metrics {

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*
bool isValidMetricName(std::string_view name);
// Label names: [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved).
bool isValidLabelName(std::string_view name);

// Appends a label value escaped for both formats: \ -> \\, " -> \", newline -> \n.
// Invalid UTF-8 is replaced by U+FFFD so the exposition stays valid UTF-8.
void appendEscapedLabelValue(std::string& out, std::string_view value);

// The inverse of appendEscapedLabelValue over a label set as the exposition
// writes it, `a="x",b="y\"z"` (a closing brace or the end ends it): calls
// fn(name, unescaped value) for each label and returns the characters read.
size_t forEachEscapedLabel(std::string_view text,
                           const std::function<void(std::string_view name, std::string_view value)>& fn);

// HELP text. 0.0.4 escapes \ and newline only; OpenMetrics also escapes ".
void appendEscapedHelp(std::string& out, std::string_view help, bool openmetrics);

// Longest output of formatValue (sign, 17 digits, point, exponent, with room).
inline constexpr size_t kMaxNumberChars = 32;

// Writes a sample value so that it parses back to the same double: integers in
// [-2^53, 2^53] as plain digits (the common counter case, and the fast one),
// anything else in the shortest round-trip form; NaN, +Inf, -Inf spelled as
// Prometheus spells them. Returns the end of what was written.
char* formatValue(char* out, double v);

// A number used as a label value: an integral double within ±2^64 as its
// exact integer digits (a 64-bit id a rule computed never turns into
// "1.8446744073710e+19"), anything else as formatValue writes it.
char* formatLabelNumber(char* out, double v);

// Go's strconv.FormatFloat(v, 'g', precision, 64), the one Go float formatter:
// shortest (precision -1) is the form client_golang writes for `le` and
// `quantile` in text 0.0.4 ("1", "0.5", "1e+06", "+Inf"); precision 4 is
// what Prometheus' humanize template functions print (%.4g).
std::string formatGoFloat(double v, int precision = -1);

// OpenMetrics canonical number for `le`/`quantile`: Go %g with ".0" appended
// when there is neither a point nor an exponent ("1.0", "100000.0", "1e+06").
std::string formatCanonicalFloat(double v);

}  // namespace bpfex::metrics
