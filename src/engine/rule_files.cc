#include "engine/rule_files.h"

#include <algorithm>
#include <filesystem>

#include "base/file.h"

namespace bpfex::engine {

using base::Error;
using base::Result;

Result<std::vector<std::string>> ruleFiles(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> dir;
      for (const auto& e : fs::directory_iterator(p, ec))
        if (e.is_regular_file() && e.path().extension() == ".lua") dir.push_back(e.path().string());
      if (ec) return Error::fromErrno(ec.value(), "list rules directory " + p);
      std::sort(dir.begin(), dir.end());
      files.insert(files.end(), dir.begin(), dir.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      return Error(ENOENT, "rules: " + p + ": no such file or directory");
    }
  }
  return files;
}

Result<std::unique_ptr<lua::Rule>> compileRule(const std::string& file, const lua::RuleLimits& limits,
                                               const std::map<std::string, std::string>& params, lua::RuleKind kind) {
  // A rule file is text an operator wrote: 4 MiB is far beyond any real one
  // and keeps a stray binary from reaching the parser.
  auto text = base::readFile(file, 4u << 20);
  if (!text) return std::move(text).error().context("read rule");
  return lua::Rule::load(file, text.value(), limits, params, kind);
}

Result<std::vector<std::unique_ptr<lua::Rule>>> compileRules(const std::vector<std::string>& files,
                                                             const lua::RuleLimits& limits,
                                                             const std::map<std::string, std::string>& params) {
  std::vector<std::unique_ptr<lua::Rule>> rules;
  std::string errors;
  for (const auto& f : files) {
    auto r = compileRule(f, limits, params);
    if (!r) {
      errors += r.error().message() + "\n";
      continue;
    }
    rules.push_back(std::move(r).value());
  }
  if (!errors.empty()) {
    errors.pop_back();
    return Error::msg(errors);
  }
  return rules;
}

}  // namespace bpfex::engine
