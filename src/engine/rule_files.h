// Finding and compiling rule files: what the daemon's reload, bpfex check
// and bpfex test share.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "lua/rule.h"

namespace bpfex::engine {

// Rule files named by paths: files as given, directories' *.lua (sorted, not
// recursive). Errors name the path.
base::Result<std::vector<std::string>> ruleFiles(const std::vector<std::string>& paths);

// Compiles one rule file (not bound): read (at most 4 MiB), then Rule::load
// under the limits. Errors name the file; their code tells the kind
// (lua::loadErrorKind).
base::Result<std::unique_ptr<lua::Rule>> compileRule(const std::string& file, const lua::RuleLimits& limits,
                                                     const std::map<std::string, std::string>& params = {},
                                                     lua::RuleKind kind = lua::RuleKind::kRule);

// Compiles the files into rules (not bound). All errors, one per line.
base::Result<std::vector<std::unique_ptr<lua::Rule>>> compileRules(
    const std::vector<std::string>& files, const lua::RuleLimits& limits,
    const std::map<std::string, std::string>& params = {});

}  // namespace bpfex::engine
