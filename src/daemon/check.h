// bpfex check: what can be found before deploy, as one line per mistake.
//
// Beyond compiling every rule and admitting them together (name clashes,
// limits), each rule's tick functions run once against the maps the
// configuration would give it: the bundled and operator objects' maps with
// their BTF layouts, foreign maps with their declared layouts or, when
// reachable now, their own BTF. Every map has one zeroed entry, so a loop
// over it runs once. That run finds maps the configuration does not have,
// fields the layout does not have, and writes with the wrong number of label
// values. Other failures of that run depend on data a zeroed entry does not
// have, so they are not reported. Without a bpf section in the configuration
// there is nothing to hold map names against: they are not judged.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "daemon/config.h"

namespace bpfex::daemon {

struct CheckIssue {
  std::string file;  // the rule or config file ("" when unknown)
  int line = 0;      // 0 when unknown
  int column = 0;    // configuration errors; 0 when unknown
  std::string message;
  // A warning is said and does not fail the check: something true of this
  // host now that the daemon copes with (an interface not there yet).
  bool warning = false;
};
// The issues that fail a check (not warnings).
size_t countErrors(const std::vector<CheckIssue>& issues);

std::vector<CheckIssue> checkConfig(const Config& cfg);
// Push jobs (files, or directories of *.lua), each loaded as `bpfex push`
// loads it: a job's environment, limits and params, its declarations checked.
std::vector<CheckIssue> checkJobs(const std::vector<std::string>& paths, const std::map<std::string, std::string>& params);

// "file:line: message", one per line.
std::string formatIssues(const std::vector<CheckIssue>& issues);
// {"ok": bool, "errors": [{"file", "line", "column", "message"}]}, for editors and CI.
std::string formatIssuesJson(const std::vector<CheckIssue>& issues);

// Splits "file:line: message" (the first line only: no Lua traceback).
CheckIssue parseIssue(const std::string& text);

}  // namespace bpfex::daemon
