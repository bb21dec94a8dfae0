// Text: re.match(s, regex) (POSIX extended, anchored, cached), the sandbox's
// string.find/match/gmatch/gsub under the time budget and memory cap
// (lua/pattern.h), and json.decode(text).
#include <regex.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "lua/binding.h"
#include "lua/json_value.h"

namespace bpfex::lua {
namespace {

using RegexCache = std::unordered_map<std::string, std::shared_ptr<regex_t>>;

int reMatch(lua_State* L) {
  const char* s = luaL_checkstring(L, 1);
  const std::string pat = luaL_checkstring(L, 2);
  RegexCache& cache = domainState<RegexCache>(L);
  auto it = cache.find(pat);
  if (it == cache.end()) {
    auto re = std::shared_ptr<regex_t>(new regex_t, [](regex_t* r) {
      regfree(r);
      delete r;
    });
    // Anchored like Prometheus' relabelling: the whole value must match.
    const std::string anchored = "^(" + pat + ")$";
    if (const int rc = regcomp(re.get(), anchored.c_str(), REG_EXTENDED | REG_NOSUB); rc != 0) {
      char msg[256];
      regerror(rc, re.get(), msg, sizeof msg);
      return luaL_error(L, "re.match: bad regex \"%s\": %s", pat.c_str(), msg);
    }
    if (cache.size() > 1000) cache.clear();
    it = cache.emplace(pat, std::move(re)).first;
  }
  lua_pushboolean(L, regexec(it->second.get(), s, 0, nullptr, 0) == 0);
  return 1;
}

// The limits a pattern call runs under: the budget's abort flag, and what
// the rule may still allocate.
pattern::Limits& patternLimits(lua_State* L) {
  RuleCore* r = core(L);
  r->pattern_limits.abort = &r->abort_flag;
  r->pattern_limits.max_result_bytes = r->roomLeft();
  return r->pattern_limits;
}
int strFind(lua_State* L) { return pattern::find(L, patternLimits(L)); }
int strMatch(lua_State* L) { return pattern::match(L, patternLimits(L)); }
int strGmatch(lua_State* L) { return pattern::gmatch(L, &patternLimits(L)); }
int strGsub(lua_State* L) { return pattern::gsub(L, patternLimits(L)); }

int jsonDecode(lua_State* L) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, 1, &len);
  // Deeper than pushJson takes is refused while parsing, at the first
  // bracket too many, not after building the whole tree.
  struct TooDeep {};
  nlohmann::json j;
  bool too_deep = false;
  try {
    j = nlohmann::json::parse(
        s, s + len,
        [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
          if (depth > 101) throw TooDeep{};
          return true;
        },
        false);
  } catch (const TooDeep&) {
    too_deep = true;
  }
  if (too_deep) return luaL_error(L, "json.decode: nesting deeper than 100");
  if (j.is_discarded()) return luaL_error(L, "json.decode: not valid JSON");
  pushJson(L, j);
  return 1;
}

}  // namespace

void openTextApi(Binder& b) {
  auto* regexes = b.ownState<RegexCache>();
  b.functions("re", {{"match", &guarded<&reMatch>}}, regexes);
  b.functions(nullptr, {{"str_find", &guarded<&strFind>}, {"str_match", &guarded<&strMatch>},
                        {"str_gmatch", &guarded<&strGmatch>}, {"str_gsub", &guarded<&strGsub>}});
  b.functions("json", {{"decode", &guarded<&jsonDecode>}});
}

}  // namespace bpfex::lua
