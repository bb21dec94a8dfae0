// `bpfex test FILE...`: rule unit tests. A test file (YAML) names rule files,
// declares maps (layouts and enum names), and gives per tick the maps'
// contents and the series expected on /metrics; time is virtual (one
// `interval` per tick), so rates are exact. Golden tests of the bundled rules
// are such files (tests/golden/). Format: docs/rule-tests.md.
#pragma once

#include <string>
#include <vector>

namespace bpfex::daemon {

// Runs the tests, prints results, returns the process exit code (0: all pass).
int runRuleTests(const std::vector<std::string>& files, bool verbose);

}  // namespace bpfex::daemon
