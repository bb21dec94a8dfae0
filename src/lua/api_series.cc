// series(name) -> the registry's current samples, as Prometheus scrapes
// them; range(name, d) -> a range selector over tick-resolution history,
// evaluated by the prelude's rate()/avg_over_time()/... through
// api.range_eval (lua/series_history.h keeps the samples).
#include <cctype>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lua/binding.h"
#include "lua/range_functions.h"
#include "lua/series_history.h"
#include "metrics/text_format.h"

namespace bpfex::lua {
namespace {

constexpr const char* kRangeMeta = "bpfex.range";

// Pushes {name = value, ...} parsed from escaped label text a="x",b="y".
void pushLabels(lua_State* L, std::string_view text, std::string_view inner_name, std::string_view inner_value) {
  lua_createtable(L, 0, 4);
  metrics::forEachEscapedLabel(text, [&](std::string_view name, std::string_view value) {
    lua_pushlstring(L, name.data(), name.size());
    lua_pushlstring(L, value.data(), value.size());
    lua_rawset(L, -3);
  });
  if (!inner_name.empty()) {
    lua_pushlstring(L, inner_name.data(), inner_name.size());
    lua_pushlstring(L, inner_value.data(), inner_value.size());
    lua_rawset(L, -3);
  }
}

// Appends {labels = {...}, value = v} to the list on top of the stack.
void pushSample(lua_State* L, int& n, std::string_view labels, std::string_view in, std::string_view iv, double v) {
  luaL_checkstack(L, 4, "series");
  lua_createtable(L, 0, 2);
  pushLabels(L, labels, in, iv);
  lua_setfield(L, -2, "labels");
  lua_pushnumber(L, v);
  lua_setfield(L, -2, "value");
  lua_rawseti(L, -2, ++n);
}

// series(name) -> {{labels = {...}, value = n}, ...}: every rule's and
// bpfex's own series, as of the rule's run (rules that run earlier in the
// tick have written theirs). Histograms and summaries by their sample names:
// x_bucket (cumulative, with le), x_sum, x_count; a summary's quantiles
// under x itself.
int series(lua_State* L) {
  RuleCore* r = core(L);
  const std::string name = luaL_checkstring(L, 1);
  if (!r->in_tick || r->registry == nullptr) return luaL_error(L, "series: call it in on_tick functions");
  const auto [f, which] = resolveSampleName(*r->registry, name);
  lua_newtable(L);
  if (f == nullptr) return 1;
  int n = 0;
  f->forEachSample(which, [&](std::string_view labels, std::string_view in, std::string_view iv, double v) {
    pushSample(L, n, labels, in, iv, v);
  });
  return 1;
}

bool isMetricName(std::string_view n) {
  if (n.empty() || n.size() > 200) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const auto c = static_cast<unsigned char>(n[i]);
    if (!(std::isalpha(c) || c == '_' || c == ':' || (i > 0 && std::isdigit(c)))) return false;
  }
  return true;
}

// range(name, "5m") -> handle: declared at the top level, so the engine
// keeps name's samples from the load on.
int range(lua_State* L) {
  RuleCore* r = core(L);
  if (r->in_tick) return luaL_error(L, "ranges are declared at the top level of a rule");
  size_t len = 0;
  const char* name = luaL_checklstring(L, 1, &len);
  const std::string_view n(name, len);
  if (!isMetricName(n)) return luaL_error(L, "range: '%s' is not a metric name", name);
  const double secs = durationArg(L, 2, "range");
  if (!(secs > 0) || secs > 7 * 86400) return luaL_error(L, "a range is between 0 and 7 days");
  r->checkDeclarationCap(L, r->ranges.size(), "ranges");
  // The rule's line: level 1 is the prelude's range() wrapper.
  r->ranges.push_back({std::string(n), toMillis(secs), RuleCore::callerLine(L, 2)});
  auto* idx = static_cast<uint32_t*>(lua_newuserdata(L, sizeof(uint32_t)));
  *idx = static_cast<uint32_t>(r->ranges.size() - 1);
  luaL_getmetatable(L, kRangeMeta);
  lua_setmetatable(L, -2);
  return 1;
}

// {k = "v"} as PromQL's k="v": an absent label matches "".
bool matches(const std::vector<std::pair<std::string, std::string>>& match, std::string_view labels,
             std::string_view in, std::string_view iv) {
  if (match.empty()) return true;
  std::vector<bool> present(match.size(), false);
  bool ok = true;
  auto check = [&](std::string_view k, std::string_view v) {
    for (size_t i = 0; i < match.size(); ++i)
      if (match[i].first == k) {
        present[i] = true;
        ok = ok && match[i].second == v;
      }
  };
  metrics::forEachEscapedLabel(labels, check);
  if (!in.empty()) check(in, iv);
  for (size_t i = 0; i < match.size(); ++i)
    if (!present[i]) ok = ok && match[i].second.empty();
  return ok;
}

// api.range_eval(handle, fn_name, arg, match) -> {{labels, value}, ...}: fn
// over each selected series' samples in [now - range, now]; series with no
// result are left out, as PromQL leaves them out.
int rangeEval(lua_State* L) {
  RuleCore* r = core(L);
  const auto* idx = static_cast<const uint32_t*>(luaL_checkudata(L, 1, kRangeMeta));
  if (*idx >= r->ranges.size()) return luaL_error(L, "not a range of this rule");
  const RangeDecl& decl = r->ranges[*idx];
  const char* fn_name = luaL_checkstring(L, 2);
  const std::optional<RangeFn> fn = rangeFnByName(fn_name);
  if (!fn) return luaL_error(L, "%s is not a range function", fn_name);
  const double arg = rangeFnTakesArg(*fn) ? luaL_checknumber(L, 3) : 0;
  if (!r->in_tick || r->registry == nullptr || r->ctx == nullptr)
    return luaL_error(L, "%s: call it in on_tick functions", fn_name);
  std::vector<std::pair<std::string, std::string>> match;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 4) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "%s: a match is {label = \"value\", ...}", fn_name);
      match.emplace_back(lua_tostring(L, -2), lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  static const SeriesHistory kNoHistory;
  const SeriesHistory& history = r->ctx->history != nullptr ? *r->ctx->history : kNoHistory;
  if (history.overflowed(decl.metric))
    return luaL_error(L, "range %s: its history went past the cap of %d samples kept for all ranges; it is "
                      "kept again after a reload (bpfex_rule_history_series_dropped_total)",
                      decl.metric.c_str(), static_cast<int>(history.limits().max_samples));
  lua_newtable(L);
  int n = 0;
  const int64_t now_ms = toMillis(r->ctx->now_mono);
  history.select(*r->registry, decl.metric, now_ms, decl.range_ms,
                 [&](std::string_view labels, std::string_view in, std::string_view iv, std::span<const Point> pts) {
                   if (!matches(match, labels, in, iv)) return;
                   const std::optional<double> v = evalRange(*fn, pts, now_ms, decl.range_ms, arg);
                   if (v) pushSample(L, n, labels, in, iv, *v);
                 });
  return 1;
}

}  // namespace

void openSeriesApi(Binder& b) {
  b.handleType(kRangeMeta, {});
  b.functions(nullptr, {{"series", &guarded<&series>}, {"range", &guarded<&range>}, {"range_eval", &guarded<&rangeEval>}});
}

}  // namespace bpfex::lua
