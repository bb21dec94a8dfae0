// metric.counter/gauge/histogram/summary/info(...) -> handle, and the
// handle's writes: m:set, m:add/inc, m:observe, m:set_buckets, m:set_log2,
// m:remove. Declarations at the top level, writes in tick functions; a
// refused write is counted and the rule goes on.
#include <string>
#include <string_view>
#include <vector>

#include "lua/binding.h"
#include "metrics/reserved.h"
#include "metrics/text_format.h"

namespace bpfex::lua {
namespace {

using metrics::FamilyOptions;
using metrics::MetricType;

// An optional text argument, whole: a NUL byte inside would cut it short
// (help text used to be silently cut there), so it is refused.
std::string textArg(lua_State* L, int idx, const char* what) {
  size_t len = 0;
  const char* p = luaL_optlstring(L, idx, "", &len);
  const std::string text(p, len);
  if (text.find('\0') != std::string::npos) luaL_error(L, "metric %s contains a NUL byte", what);
  return text;
}

int declare(lua_State* L, MetricType type) {
  RuleCore* r = core(L);
  r->requireTopLevel(L, "metrics");
  r->checkDeclarationCap(L, r->decls.size(), "metric families");
  FamilyOptions o;
  o.type = type;
  o.expire_unwritten = true;
  if (lua_istable(L, 1)) {  // metric.counter{name=..., help=..., labels=..., ...}
    rawField(L, 1, "name");
    o.name = luaL_optstring(L, -1, "");
    rawField(L, 1, "help");
    o.help = textArg(L, -1, "help");
    rawField(L, 1, "unit");
    o.unit = textArg(L, -1, "unit");
    rawField(L, 1, "max_series");
    o.max_series = lua_isnil(L, -1) ? 0 : checkWhole(L, lua_gettop(L), "max_series");
    rawField(L, 1, "labels");
    o.label_names = stringList(L, lua_gettop(L), "labels");
    rawField(L, 1, "buckets");
    o.buckets = numberList(L, lua_gettop(L), "buckets");
    rawField(L, 1, "quantiles");
    o.quantiles = numberList(L, lua_gettop(L), "quantiles");
    rawField(L, 1, "total");  // counters: false for a name without _total (metrics::FamilyOptions)
    if (!lua_isnil(L, -1)) o.counter_total = lua_toboolean(L, -1) != 0;
    rawField(L, 1, "native");  // histograms: "classic" (default), "native" or "both"
    if (!lua_isnil(L, -1)) {
      const std::string kind = luaL_checkstring(L, -1);
      if (kind == "native") o.histogram = metrics::HistogramKind::kNative;
      else if (kind == "both") o.histogram = metrics::HistogramKind::kBoth;
      else if (kind != "classic") return luaL_error(L, "native = \"%s\": classic, native or both", kind.c_str());
    }
  } else {  // metric.counter(name, help, labels, buckets|quantiles)
    o.name = luaL_checkstring(L, 1);
    o.help = textArg(L, 2, "help");
    o.label_names = stringList(L, 3, "labels");
    if (type == MetricType::kHistogram) o.buckets = numberList(L, 4, "buckets");
    if (type == MetricType::kSummary) o.quantiles = numberList(L, 4, "quantiles");
  }
  if (o.name.empty()) return luaL_error(L, "metric declaration without a name");
  if (const std::string why = metrics::reservedReason(o.name); !why.empty()) return luaL_error(L, "%s", why.c_str());
  for (const auto& d : r->decls)
    if (d.name == o.name) return luaL_error(L, "metric %s is declared twice in this rule", o.name.c_str());
  // Shape errors (bad name, counter without _total, ...) are reported here,
  // at the declaration's line, by validating against an empty registry.
  metrics::Registry probe;
  if (auto f = probe.family(o); !f) return luaL_error(L, "%s", f.error().message().c_str());
  r->decls.push_back(std::move(o));
  r->decl_lines.push_back(RuleCore::callerLine(L, 1));
  auto* h = static_cast<MetricHandle*>(lua_newuserdata(L, sizeof(MetricHandle)));
  h->decl = r->decls.size() - 1;
  luaL_getmetatable(L, kMetricMeta);
  lua_setmetatable(L, -2);
  return 1;
}
int declCounter(lua_State* L) { return declare(L, MetricType::kCounter); }
int declGauge(lua_State* L) { return declare(L, MetricType::kGauge); }
int declHistogram(lua_State* L) { return declare(L, MetricType::kHistogram); }
int declSummary(lua_State* L) { return declare(L, MetricType::kSummary); }
int declInfo(lua_State* L) { return declare(L, MetricType::kInfo); }

// Label values formatted from numbers, kept while a write uses their views.
std::vector<std::string>& numbers() {
  thread_local std::vector<std::string> v(64);
  return v;
}

// Pushes the label values onto the stack (so the views stay valid) and
// fills `out`. Labels: a positional array in label order, or a table by name.
void labels(lua_State* L, int idx, const FamilyOptions& o, std::vector<std::string_view>& out) {
  out.clear();
  const size_t n = o.label_names.size();
  if (n == 0) {
    if (!lua_isnoneornil(L, idx) && !(lua_istable(L, idx) && lua_objlen(L, idx) == 0))
      luaL_error(L, "metric %s has no labels", o.name.c_str());
    return;
  }
  if (!lua_istable(L, idx)) luaL_error(L, "metric %s: labels must be a table", o.name.c_str());
  luaL_checkstack(L, static_cast<int>(n) + 2, "labels");
  if (n > numbers().size()) numbers().resize(n);
  const bool positional = lua_objlen(L, idx) > 0;
  if (positional && lua_objlen(L, idx) != n)
    luaL_error(L, "metric %s: got %d label values for %d labels", o.name.c_str(), static_cast<int>(lua_objlen(L, idx)),
               static_cast<int>(n));
  for (size_t i = 0; i < n; ++i) {
    if (positional) lua_rawgeti(L, idx, static_cast<int>(i + 1));
    else rawField(L, idx, o.label_names[i].c_str());
    const int t = lua_type(L, -1);
    if (t == LUA_TNUMBER) {
      // Formatted here rather than by lua_tolstring, which would create (and
      // intern) a Lua string per value, and would round integers beyond 1e14
      // (%.14g): integral values as exact digits.
      const double d = lua_tonumber(L, -1);
      lua_pop(L, 1);
      std::string& buf = numbers()[i];
      char tmp[metrics::kMaxNumberChars];
      buf.assign(tmp, static_cast<size_t>(metrics::formatLabelNumber(tmp, d) - tmp));
      out.emplace_back(buf);
      continue;
    }
    if (t != LUA_TSTRING && t != LUA_TBOOLEAN)
      luaL_error(L, "metric %s: label %s is %s, not a string", o.name.c_str(), o.label_names[i].c_str(),
                 lua_typename(L, t));
    if (t == LUA_TBOOLEAN) {
      const bool b = lua_toboolean(L, -1);
      lua_pop(L, 1);
      lua_pushstring(L, b ? "true" : "false");
    }
    size_t len = 0;
    const char* s = lua_tolstring(L, -1, &len);
    out.emplace_back(s, len);
  }
}

metrics::Family* familyOf(lua_State* L, RuleCore* r, const MetricHandle* h) {
  if (!r->in_tick || h->decl >= r->families.size() || r->families[h->decl] == nullptr)
    luaL_error(L, "metric %s is written from on_tick functions only", r->decls[h->decl].name.c_str());
  return r->families[h->decl];
}

// A refused write is counted and remembered with the rule's file:line (the
// writer is the Lua function one level up); the rule goes on.
void report(lua_State* L, RuleCore* r, const base::Status& st) {
  if (st) return;
  ++r->metric_errors;
  const std::string where = r->where(L, 1);
  r->last_metric_error = (where == r->name ? "" : where + ": ") + st.error().message();
}

template <typename Fn>
int write(lua_State* L, Fn fn) {
  RuleCore* r = core(L);
  auto* h = static_cast<MetricHandle*>(luaL_checkudata(L, 1, kMetricMeta));
  metrics::Family* f = familyOf(L, r, h);
  thread_local std::vector<std::string_view> lv;
  const int top = lua_gettop(L);
  labels(L, 2, f->options(), lv);
  report(L, r, fn(f, metrics::LabelValues(lv)));
  lua_settop(L, top);
  return 0;
}
int mSet(lua_State* L) {
  const double v = luaL_checknumber(L, 3);
  return write(L, [v](metrics::Family* f, metrics::LabelValues lv) { return f->set(lv, v); });
}
int mAdd(lua_State* L) {
  const double v = luaL_optnumber(L, 3, 1);
  return write(L, [v](metrics::Family* f, metrics::LabelValues lv) { return f->add(lv, v); });
}
int mObserve(lua_State* L) {
  const double v = luaL_checknumber(L, 3);
  return write(L, [v](metrics::Family* f, metrics::LabelValues lv) { return f->observe(lv, v); });
}
// h:set_log2(labels, slots, sum[, zeros]): log2 slots as bpfex_log2.h keeps them.
int mSetLog2(lua_State* L) {
  std::vector<double> slots = numberList(L, 3, "slots");
  const double sum = luaL_checknumber(L, 4);
  const double zero = luaL_optnumber(L, 5, 0);
  return write(L, [&](metrics::Family* f, metrics::LabelValues lv) { return f->setLog2(lv, slots, sum, zero); });
}
int mSetBuckets(lua_State* L) {
  std::vector<double> counts = numberList(L, 3, "counts");
  const double sum = luaL_checknumber(L, 4);
  return write(L, [&](metrics::Family* f, metrics::LabelValues lv) { return f->setHistogram(lv, counts, sum); });
}
int mSetSummary(lua_State* L) {
  std::vector<double> q = numberList(L, 3, "quantile values");
  const double sum = luaL_checknumber(L, 4), count = luaL_checknumber(L, 5);
  return write(L, [&](metrics::Family* f, metrics::LabelValues lv) { return f->setSummary(lv, q, sum, count); });
}
int mInfo(lua_State* L) {
  return write(L, [](metrics::Family* f, metrics::LabelValues lv) { return f->setInfo(lv); });
}
int mRemove(lua_State* L) {
  return write(L, [](metrics::Family* f, metrics::LabelValues lv) {
    f->remove(lv);
    return base::okStatus();
  });
}
// m:set(labels, v) for counters and gauges; m:set(labels) for info;
// m:set(labels, quantile values, sum, count) for summaries.
int mSetMethod(lua_State* L) {
  auto* h = static_cast<MetricHandle*>(luaL_checkudata(L, 1, kMetricMeta));
  const MetricType t = core(L)->decls[h->decl].type;
  if (t == MetricType::kInfo) return mInfo(L);
  if (t == MetricType::kSummary) return mSetSummary(L);
  return mSet(L);
}

}  // namespace

void openMetricApi(Binder& b) {
  b.handleType(kMetricMeta, {{"set", &guarded<&mSetMethod>}, {"add", &guarded<&mAdd>}, {"inc", &guarded<&mAdd>},
                             {"observe", &guarded<&mObserve>}, {"set_buckets", &guarded<&mSetBuckets>},
                             {"set_log2", &guarded<&mSetLog2>}, {"remove", &guarded<&mRemove>}});
  b.functions("metric", {{"counter", &guarded<&declCounter>}, {"gauge", &guarded<&declGauge>},
                         {"histogram", &guarded<&declHistogram>}, {"summary", &guarded<&declSummary>},
                         {"info", &guarded<&declInfo>}});
}

}  // namespace bpfex::lua
