// The template language of alert labels and annotations: the subset of Go's
// text/template that alerting rules use, printing exactly what Prometheus
// prints (prometheus-semantics.md §1.5).
//
//   {{ $value }}  {{ $labels.hook }}  {{ $externalLabels.dc }}  {{ .Value }}  {{ .Labels.hook }}
//   {{ $value | humanize }}  humanize1024  humanizeDuration  humanizePercentage
//   humanizeTimestamp  toUpper  toLower  title        {{- trims -}}
//
// A template that does not parse (unknown function, unsupported action) is an
// error at load time, as in Prometheus; expansion itself cannot fail here.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace bpfex::engine {

struct TemplateData {
  const std::map<std::string, std::string>* labels = nullptr;
  const std::map<std::string, std::string>* external_labels = nullptr;
  double value = 0;
};

class AlertTemplate {
 public:
  static base::Result<AlertTemplate> parse(std::string_view text);
  std::string expand(const TemplateData& d) const;
  const std::string& source() const { return source_; }

 private:
  struct Action {
    enum Kind { kValue, kLabel, kExternal, kString } kind;
    std::string arg;                 // label name or literal
    std::vector<std::string> funcs;  // pipeline
  };
  struct Part {
    std::string text;  // literal text, or empty for an action
    int action = -1;
  };
  std::string source_;
  std::vector<Part> parts_;
  std::vector<Action> actions_;
};

std::string humanize(double v);
std::string humanize1024(double v);
std::string humanizeDuration(double v);
std::string humanizePercentage(double v);
// Go's default float form (%v): shortest round-trip, exponent below 1e-4 or from 1e21... as Prometheus prints $value.
std::string goFormatValue(double v);

}  // namespace bpfex::engine
