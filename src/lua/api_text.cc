// Text: re.match(s, regex) (RE2, anchored, cached), the sandbox's
// string.find/match/gmatch/gsub under the time budget and memory cap
// (lua/pattern.h), and json.decode(text).
#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "lua/binding.h"

namespace bpfex::lua {
namespace {

// re.match compiles with RE2, the syntax of Prometheus' relabel_configs, in
// time and memory linear in the pattern, and matches in time linear in the
// subject: no pattern a rule writes ("(((a{1,200}){1,200}){1,200})" took
// glibc's regcomp past 1 GB) can stall the engine. A compiled program is
// bounded by kRegexMemory, and the cache by kRegexCacheSize entries.
constexpr int64_t kRegexMemory = 1 << 20;
constexpr size_t kRegexCacheSize = 256;
using RegexCache = std::unordered_map<std::string, std::shared_ptr<const re2::RE2>>;

int reMatch(lua_State* L) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, 1, &len);
  const std::string pat = luaL_checkstring(L, 2);
  RegexCache& cache = domainState<RegexCache>(L);
  auto it = cache.find(pat);
  if (it == cache.end()) {
    re2::RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(kRegexMemory);
    // Anchored like Prometheus' relabelling: the whole value must match.
    auto re = std::make_shared<const re2::RE2>("^(?:" + pat + ")$", options);
    if (!re->ok()) return luaL_error(L, "re.match: bad regex \"%s\": %s", pat.c_str(), re->error().c_str());
    if (cache.size() >= kRegexCacheSize) cache.clear();
    it = cache.emplace(pat, std::move(re)).first;
  }
  lua_pushboolean(L, re2::RE2::FullMatch(re2::StringPiece(s, len), *it->second));
  return 1;
}

// json.decode builds the Lua value as the parser reads, on the Lua stack:
// one pass over the text (linear, where nlohmann's callback parser rescanned
// each array), every table charged to the rule's memory cap as it grows, no
// second tree outside it, the budget checked every kBudgetEvery values, and
// nesting refused at the first bracket too many. Objects and arrays become
// tables, numbers numbers, null nil.
class LuaJsonBuilder {
 public:
  static constexpr size_t kMaxDepth = 101;  // containers, the outermost included
  static constexpr unsigned kBudgetEvery = 4096;

  LuaJsonBuilder(lua_State* L, const volatile uint32_t* abort) : L_(L), abort_(abort) {}

  enum class Stop { kNone, kSyntax, kTooDeep, kBudget };
  Stop stop() const { return stop_; }

  bool null() {
    lua_pushnil(L_);
    return put();
  }
  bool boolean(bool b) {
    lua_pushboolean(L_, b);
    return put();
  }
  bool number_integer(int64_t v) {
    lua_pushnumber(L_, static_cast<double>(v));
    return put();
  }
  bool number_unsigned(uint64_t v) {
    lua_pushnumber(L_, static_cast<double>(v));
    return put();
  }
  bool number_float(double v, const std::string&) {
    lua_pushnumber(L_, v);
    return put();
  }
  bool string(std::string& v) {
    lua_pushlstring(L_, v.data(), v.size());
    return put();
  }
  bool binary(nlohmann::json::binary_t&) { return fail(Stop::kSyntax); }
  bool start_object(size_t) { return open(false); }
  bool key(std::string& k) {
    lua_pushlstring(L_, k.data(), k.size());
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(size_t) { return open(true); }
  bool end_array() { return close(); }
  template <class Exception>
  bool parse_error(size_t, const std::string&, const Exception&) {
    return fail(Stop::kSyntax);
  }

 private:
  // The value on top of the stack goes into the container below it: an
  // array's next slot, or the object's pending key.
  bool put() {
    if ((++events_ % kBudgetEvery) == 0 && *abort_ != 0) return fail(Stop::kBudget);
    if (open_.empty()) return true;  // the document itself
    if (open_.back() != 0) {
      lua_rawseti(L_, -2, static_cast<int>(open_.back()++));
    } else {
      lua_rawset(L_, -3);
    }
    return true;
  }
  bool open(bool array) {
    if (open_.size() >= kMaxDepth) return fail(Stop::kTooDeep);
    luaL_checkstack(L_, 4, "json.decode");
    lua_newtable(L_);
    open_.push_back(array ? 1 : 0);
    return true;
  }
  bool close() {
    open_.pop_back();
    return put();
  }
  bool fail(Stop why) {
    stop_ = why;
    return false;
  }

  lua_State* L_;
  const volatile uint32_t* abort_;
  std::vector<uint32_t> open_;  // per open container: an array's next index, or 0 for an object
  unsigned events_ = 0;
  Stop stop_ = Stop::kNone;
};

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
  const int base = lua_gettop(L);
  LuaJsonBuilder builder(L, &core(L)->abort_flag);
  if (nlohmann::json::sax_parse(s, s + len, &builder)) return 1;
  lua_settop(L, base);
  switch (builder.stop()) {
    case LuaJsonBuilder::Stop::kTooDeep: return luaL_error(L, "json.decode: nesting deeper than 100");
    case LuaJsonBuilder::Stop::kBudget: throw std::runtime_error("time budget exceeded");
    default: return luaL_error(L, "json.decode: not valid JSON");
  }
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
