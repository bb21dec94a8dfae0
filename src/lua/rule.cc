#include "lua/rule.h"

#include <lua.hpp>
#include <net/if.h>
#include <regex.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/file.h"
#include "base/unique_fd.h"
#include "metrics/reserved.h"
#include "metrics/text_format.h"
#include "base/log.h"
#include "bpf/netns.h"
#include "lua/history.h"
#include "lua/instrument.h"
#include "lua/map_export.h"
#include "lua/pattern.h"
#include "lua/range_functions.h"
#include "lua/series_history.h"
#include "lua/watchdog.h"
#include "lua_prelude.h"  // generated: kPreludeSource

namespace bpfex::lua {

using base::Error;
using base::Result;
using base::Status;
using metrics::FamilyOptions;
using metrics::MetricType;

std::string_view errorKindName(ErrorKind k) {
  switch (k) {
    case ErrorKind::kNone: return "none";
    case ErrorKind::kCompile: return "compile";
    case ErrorKind::kRuntime: return "runtime";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kMemory: return "memory";
    case ErrorKind::kMetric: return "metric";
    case ErrorKind::kLimit: return "limit";
  }
  return "runtime";
}

ErrorKind loadErrorKind(const base::Error& e) {
  switch (e.code()) {
    case ETIME: return ErrorKind::kTimeout;
    case ENOMEM: return ErrorKind::kMemory;
    case E2BIG: return ErrorKind::kLimit;
    default: return ErrorKind::kCompile;
  }
}

namespace {

const char kRuleKey = 'r';  // registry key (address) of the Rule*

constexpr const char* kMetricMeta = "bpfex.metric";
constexpr const char* kWindowMeta = "bpfex.window";
constexpr const char* kRangeMeta = "bpfex.range";
constexpr const char* kAlertMeta = "bpfex.alert";
constexpr const char* kMapMeta = "bpfex.map";

// bpf.map(name): the name, inline (no C++ state, nothing to finalize).
struct MapHandle {
  uint32_t len;
  char name[1];
};

struct AlertHandle {
  size_t decl = 0;
};

struct MetricHandle {
  size_t decl = 0;
};

// Every lua_CFunction goes through this: no C++ exception ever crosses into
// Lua (GUIDE.md §3.2); it becomes a Lua error with the message. Only
// std::exception is caught: LuaJIT raises its own errors (luaL_error) by
// unwinding as a foreign exception on x86-64, which must pass through.
//
// It also counts the call against the rule's C-stack depth: a binding may
// call back into the rule (a table's metamethods never run from here, as
// bindings read rule tables raw, but a binding can still be reached from a
// coroutine or sort callback nested deep). The counter is restored by the
// guard's destructor, which runs when a Lua error unwinds through.
template <int (*F)(lua_State*)>
int guarded(lua_State* L) {
  std::string err;
  {
    auto* rule = static_cast<Rule*>(lua_touserdata(L, lua_upvalueindex(1)));
    if (!rule->enterCall()) {
      err = "calls nested too deeply (" + std::to_string(rule->callDepth()) + " levels through coroutines, callbacks and bpfex functions)";
    } else {
      struct Leave {
        Rule* r;
        ~Leave() { r->leaveCall(); }
      } leave{rule};
      try {
        return F(L);
      } catch (const std::exception& e) {
        err = e.what();
      }
    }
  }
  lua_pushstring(L, err.c_str());
  return lua_error(L);
}

double luaNow() { return base::unixSeconds(); }

// A whole number in [0, max] (indexes, counts, ifindexes): rule numbers can
// be NaN, negative or 1e300, and casting those to an integer is undefined.
bool wholeNumber(double d, double max) { return d >= 0 && d <= max && d == std::floor(d); }
size_t checkWhole(lua_State* L, int idx, const char* what, double max = 9007199254740992.0) {
  const double d = luaL_checknumber(L, idx);
  if (!wholeNumber(d, max)) luaL_error(L, "%s must be a whole number from 0 to %.0f", what, max);
  return static_cast<size_t>(d);
}

// t[name] without metamethods: bindings never run rule code from C (a
// table's __index would nest the C stack and run under the binding's frame).
void rawField(lua_State* L, int idx, const char* name) {
  if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
  lua_pushstring(L, name);
  lua_rawget(L, idx);
}

// Called from compiled rule code through an FFI function pointer (prelude.lua).
extern "C" int bpfexBudgetExpired(const uint32_t* flag) {
  return static_cast<int>(__atomic_load_n(flag, __ATOMIC_RELAXED));
}

}  // namespace

struct Rule::Impl {
  // Every binding is a closure with the Rule and its Impl as upvalues.
  static Rule* self(lua_State* L) { return static_cast<Rule*>(lua_touserdata(L, lua_upvalueindex(1))); }

  // ---- metric declarations --------------------------------------------------

  // The array part of the table at idx, each element of Lua type `type`
  // read with `get`; nil gives an empty list.
  template <class T, class Get>
  static std::vector<T> listOf(lua_State* L, int idx, const char* what, int type, const char* type_name, Get get) {
    std::vector<T> v;
    if (lua_isnoneornil(L, idx)) return v;
    luaL_checktype(L, idx, LUA_TTABLE);
    const size_t n = lua_objlen(L, idx);
    for (size_t i = 1; i <= n; ++i) {
      lua_rawgeti(L, idx, static_cast<int>(i));
      if (lua_type(L, -1) != type) luaL_error(L, "%s[%d] must be a %s", what, static_cast<int>(i), type_name);
      v.push_back(get(L));
      lua_pop(L, 1);
    }
    return v;
  }
  static std::vector<std::string> stringList(lua_State* L, int idx, const char* what) {
    return listOf<std::string>(L, idx, what, LUA_TSTRING, "string", [](lua_State* S) { return std::string(lua_tostring(S, -1)); });
  }
  static std::vector<double> numberList(lua_State* L, int idx, const char* what) {
    return listOf<double>(L, idx, what, LUA_TNUMBER, "number", [](lua_State* S) { return lua_tonumber(S, -1); });
  }

  static int declare(lua_State* L, MetricType type) {
    Rule* r = self(L);
    if (r->in_tick_) return luaL_error(L, "metrics are declared at the top level of a rule, not in on_tick");
    if (r->decls_.size() >= r->limits_.max_families) {
      r->limit_hit_ = true;
      return luaL_error(L, "more than %d metric families in one rule (rule_limits.max_families)",
                        static_cast<int>(r->limits_.max_families));
    }
    FamilyOptions o;
    o.type = type;
    o.expire_unwritten = true;
    if (lua_istable(L, 1)) {  // metric.counter{name=..., help=..., labels=..., ...}
      rawField(L, 1, "name");
      o.name = luaL_optstring(L, -1, "");
      rawField(L, 1, "help");
      o.help = luaL_optstring(L, -1, "");
      rawField(L, 1, "unit");
      o.unit = luaL_optstring(L, -1, "");
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
      o.help = luaL_optstring(L, 2, "");
      o.label_names = stringList(L, 3, "labels");
      if (type == MetricType::kHistogram) o.buckets = numberList(L, 4, "buckets");
      if (type == MetricType::kSummary) o.quantiles = numberList(L, 4, "quantiles");
    }
    if (o.name.empty()) return luaL_error(L, "metric declaration without a name");
    if (const std::string why = metrics::reservedReason(o.name); !why.empty()) return luaL_error(L, "%s", why.c_str());
    for (const auto& d : r->decls_)
      if (d.name == o.name) return luaL_error(L, "metric %s is declared twice in this rule", o.name.c_str());
    // Shape errors (bad name, counter without _total, ...) are reported here,
    // at the declaration's line, by validating against an empty registry.
    metrics::Registry probe;
    if (auto f = probe.family(o); !f) return luaL_error(L, "%s", f.error().message().c_str());
    r->decls_.push_back(std::move(o));
    lua_Debug ar;
    r->decl_lines_.push_back(lua_getstack(L, 1, &ar) != 0 && lua_getinfo(L, "l", &ar) != 0 ? ar.currentline : 0);
    auto* h = static_cast<MetricHandle*>(lua_newuserdata(L, sizeof(MetricHandle)));
    h->decl = r->decls_.size() - 1;
    luaL_getmetatable(L, kMetricMeta);
    lua_setmetatable(L, -2);
    return 1;
  }
  static int declCounter(lua_State* L) { return declare(L, MetricType::kCounter); }
  static int declGauge(lua_State* L) { return declare(L, MetricType::kGauge); }
  static int declHistogram(lua_State* L) { return declare(L, MetricType::kHistogram); }
  static int declSummary(lua_State* L) { return declare(L, MetricType::kSummary); }
  static int declInfo(lua_State* L) { return declare(L, MetricType::kInfo); }

  // ---- metric writes -------------------------------------------------------

  static std::vector<std::string>& numbers() {
    thread_local std::vector<std::string> v(64);
    return v;
  }

  // Pushes the label values onto the stack (so the views stay valid) and
  // fills `out`. Labels: a positional array in label order, or a table by name.
  static void labels(lua_State* L, int idx, const FamilyOptions& o, std::vector<std::string_view>& out) {
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
      luaL_error(L, "metric %s: got %d label values for %d labels", o.name.c_str(),
                 static_cast<int>(lua_objlen(L, idx)), static_cast<int>(n));
    for (size_t i = 0; i < n; ++i) {
      if (positional) lua_rawgeti(L, idx, static_cast<int>(i + 1));
      else rawField(L, idx, o.label_names[i].c_str());
      const int t = lua_type(L, -1);
      if (t == LUA_TNUMBER) {
        // Formatted here rather than by lua_tolstring, which would create
        // (and intern) a Lua string per value, and would round integers
        // beyond 1e14 (%.14g): integral values as exact digits.
        const double d = lua_tonumber(L, -1);
        lua_pop(L, 1);
        std::string& buf = numbers()[i];
        char tmp[metrics::kMaxNumberChars];
        const auto len = static_cast<size_t>(metrics::formatLabelNumber(tmp, d) - tmp);
        buf.assign(tmp, len);
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
      const char* s = lua_tolstring(L, -1, &len);  // numbers become strings in place, on the stack
      out.emplace_back(s, len);
    }
  }

  static metrics::Family* familyOf(lua_State* L, Rule* r, MetricHandle* h) {
    if (!r->in_tick_ || h->decl >= r->families_.size() || r->families_[h->decl] == nullptr)
      luaL_error(L, "metric %s is written from on_tick functions only", r->decls_[h->decl].name.c_str());
    return r->families_[h->decl];
  }

  // A refused write is counted and remembered; the rule goes on.
  // A refused write is counted and remembered with the rule's file:line
  // (the writer is the Lua function one level up); the rule goes on.
  static void report(lua_State* L, Rule* r, const Status& st) {
    if (st) return;
    ++r->metric_errors_;
    lua_Debug ar;
    std::string where;
    if (lua_getstack(L, 1, &ar) != 0 && lua_getinfo(L, "Sl", &ar) != 0 && ar.currentline > 0)
      where = r->fullChunkNames(std::string(ar.short_src)) + ":" + std::to_string(ar.currentline) + ": ";
    r->last_metric_error_ = where + st.error().message();
  }

  template <typename Fn>
  static int write(lua_State* L, Fn fn) {
    Rule* r = self(L);
    auto* h = static_cast<MetricHandle*>(luaL_checkudata(L, 1, kMetricMeta));
    metrics::Family* f = familyOf(L, r, h);
    thread_local std::vector<std::string_view> lv;
    const int top = lua_gettop(L);
    labels(L, 2, f->options(), lv);
    report(L, r, fn(L, f, metrics::LabelValues(lv)));
    lua_settop(L, top);
    return 0;
  }
  static int mSet(lua_State* L) {
    const double v = luaL_checknumber(L, 3);
    return write(L, [v](lua_State*, metrics::Family* f, metrics::LabelValues lv) { return f->set(lv, v); });
  }
  static int mAdd(lua_State* L) {
    const double v = luaL_optnumber(L, 3, 1);
    return write(L, [v](lua_State*, metrics::Family* f, metrics::LabelValues lv) { return f->add(lv, v); });
  }
  static int mObserve(lua_State* L) {
    const double v = luaL_checknumber(L, 3);
    return write(L, [v](lua_State*, metrics::Family* f, metrics::LabelValues lv) { return f->observe(lv, v); });
  }
  // h:set_log2(labels, slots, sum[, zeros]): log2 slots as bpfex_log2.h keeps them.
  static int mSetLog2(lua_State* L) {
    std::vector<double> slots = numberList(L, 3, "slots");
    const double sum = luaL_checknumber(L, 4);
    const double zero = luaL_optnumber(L, 5, 0);
    return write(L, [&](lua_State*, metrics::Family* f, metrics::LabelValues lv) { return f->setLog2(lv, slots, sum, zero); });
  }
  static int mSetBuckets(lua_State* L) {
    std::vector<double> counts = numberList(L, 3, "counts");
    const double sum = luaL_checknumber(L, 4);
    return write(L, [&](lua_State*, metrics::Family* f, metrics::LabelValues lv) { return f->setHistogram(lv, counts, sum); });
  }
  static int mSetSummary(lua_State* L) {
    std::vector<double> q = numberList(L, 3, "quantile values");
    const double sum = luaL_checknumber(L, 4), count = luaL_checknumber(L, 5);
    return write(L, [&](lua_State*, metrics::Family* f, metrics::LabelValues lv) { return f->setSummary(lv, q, sum, count); });
  }
  static int mInfo(lua_State* L) {
    return write(L, [](lua_State*, metrics::Family* f, metrics::LabelValues lv) { return f->setInfo(lv); });
  }
  static int mRemove(lua_State* L) {
    return write(L, [](lua_State*, metrics::Family* f, metrics::LabelValues lv) {
      f->remove(lv);
      return base::okStatus();
    });
  }
  static int mSetMethod(lua_State* L) {
    // m:set(labels, v) for counters/gauges; m:set(labels) for info.
    auto* h = static_cast<MetricHandle*>(luaL_checkudata(L, 1, kMetricMeta));
    const MetricType t = self(L)->decls_[h->decl].type;
    if (t == MetricType::kInfo) return mInfo(L);
    if (t == MetricType::kSummary) return mSetSummary(L);
    return mSet(L);
  }

  // ---- alerts -----------------------------------------------------------------

  // A duration: seconds as a number, or a string base::parseDuration takes.
  static double durationArg(lua_State* L, int idx, const char* what) {
    if (lua_isnoneornil(L, idx)) return 0;
    if (lua_type(L, idx) == LUA_TNUMBER) {
      const double v = lua_tonumber(L, idx);
      if (!(v >= 0) || std::isinf(v)) luaL_error(L, "%s must be a non-negative number of seconds", what);
      return v;
    }
    auto d = base::parseDuration(luaL_checkstring(L, idx));
    if (!d) luaL_error(L, "%s: %s", what, d.error().message().c_str());
    return d.value();
  }
  static std::vector<std::pair<std::string, std::string>> stringMap(lua_State* L, int idx, const char* what) {
    std::vector<std::pair<std::string, std::string>> out;
    if (lua_isnoneornil(L, idx)) return out;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "%s: keys must be label names", what);
      const int t = lua_type(L, -1);
      if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN) luaL_error(L, "%s: values must be strings", what);
      std::string v;
      if (t == LUA_TBOOLEAN) v = lua_toboolean(L, -1) ? "true" : "false";
      else {
        lua_pushvalue(L, -1);
        v = lua_tostring(L, -1);
        lua_pop(L, 1);
      }
      out.emplace_back(lua_tostring(L, -2), v);
      lua_pop(L, 1);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // alert{name=, ["for"]=, keep_firing_for=, labels={}, annotations={}}
  static int declAlert(lua_State* L) {
    Rule* r = self(L);
    if (r->in_tick_) return luaL_error(L, "alerts are declared at the top level of a rule");
    if (r->alert_decls_.size() >= r->limits_.max_families) {
      r->limit_hit_ = true;
      return luaL_error(L, "more than %d alerts in one rule (rule_limits.max_families)",
                        static_cast<int>(r->limits_.max_families));
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    AlertDecl d;
    rawField(L, 1, "name");
    d.name = luaL_checkstring(L, -1);
    if (!metrics::isValidLabelName(d.name) && !metrics::isValidMetricName(d.name))
      return luaL_error(L, "alert name \"%s\" is not valid", d.name.c_str());
    rawField(L, 1, "for");
    d.for_seconds = durationArg(L, lua_gettop(L), "for");
    rawField(L, 1, "keep_firing_for");
    d.keep_firing_for_seconds = durationArg(L, lua_gettop(L), "keep_firing_for");
    rawField(L, 1, "labels");
    d.labels = stringMap(L, lua_gettop(L), "labels");
    rawField(L, 1, "annotations");
    d.annotations = stringMap(L, lua_gettop(L), "annotations");
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar)) d.line = ar.currentline;
    for (const auto& a : r->alert_decls_)
      if (a.name == d.name) return luaL_error(L, "alert %s is declared twice in this rule", d.name.c_str());
    r->alert_decls_.push_back(std::move(d));
    auto* h = static_cast<AlertHandle*>(lua_newuserdata(L, sizeof(AlertHandle)));
    h->decl = r->alert_decls_.size() - 1;
    luaL_getmetatable(L, kAlertMeta);
    lua_setmetatable(L, -2);
    return 1;
  }
  // a:fire(labels_by_name [, value]): this instance's condition holds now.
  static int alertFire(lua_State* L) {
    Rule* r = self(L);
    auto* h = static_cast<AlertHandle*>(luaL_checkudata(L, 1, kAlertMeta));
    if (!r->in_tick_) return luaL_error(L, "alerts fire from on_tick functions");
    AlertFiring f;
    f.decl = h->decl;
    f.labels = stringMap(L, 2, "alert labels");
    f.value = luaL_optnumber(L, 3, 1);
    r->fired_.push_back(std::move(f));
    return 0;
  }

  // alert:fire_each(v): every sample of a vector ({labels = {...}, value = x}
  // each, as vec.* returns them) fires with its labels and value: what a
  // Prometheus alerting rule does with its expression's result.
  static int alertFireEach(lua_State* L) {
    Rule* r = self(L);
    auto* h = static_cast<AlertHandle*>(luaL_checkudata(L, 1, kAlertMeta));
    if (!r->in_tick_) return luaL_error(L, "alerts fire from on_tick functions");
    luaL_checktype(L, 2, LUA_TTABLE);
    const size_t n = lua_objlen(L, 2);
    for (size_t i = 1; i <= n; ++i) {
      lua_rawgeti(L, 2, static_cast<int>(i));
      if (!lua_istable(L, -1)) return luaL_error(L, "alert:fire_each: sample %d is not {labels = ..., value = ...}",
                                                 static_cast<int>(i));
      const int sample = lua_gettop(L);
      AlertFiring f;
      f.decl = h->decl;
      rawField(L, sample, "labels");
      f.labels = stringMap(L, lua_gettop(L), "alert labels");
      rawField(L, sample, "value");
      f.value = luaL_optnumber(L, -1, 1);
      r->fired_.push_back(std::move(f));
      lua_settop(L, sample - 1);
    }
    return 0;
  }

  // ---- tick functions, interval, log -----------------------------------------

  static int onTick(lua_State* L) {
    Rule* r = self(L);
    luaL_checktype(L, 1, LUA_TFUNCTION);
    if (r->in_tick_) return luaL_error(L, "on_tick is called at the top level of a rule");
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->tick_fns_ref_);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, static_cast<int>(lua_objlen(L, -2) + 1));
    return 0;
  }
  static int interval(lua_State* L) {
    Rule* r = self(L);
    const double secs = durationArg(L, 1, "interval");
    if (!(secs > 0) || secs > 86400) return luaL_error(L, "interval must be between 0 and 1 day");
    r->interval_ = secs;
    return 0;
  }
  // At most kMaxLogLines lines of at most kMaxLogBytes per run: a rule that
  // logs in a loop must not flood the daemon's log (the rest are counted and
  // reported once when the run ends).
  static constexpr uint32_t kMaxLogLines = 50;
  static constexpr size_t kMaxLogBytes = 4096;
  static int log(lua_State* L) {
    Rule* r = self(L);
    size_t len = 0;
    const char* msg = luaL_checklstring(L, 1, &len);
    if (r->log_lines_ >= kMaxLogLines) {
      ++r->log_suppressed_;
      return 0;
    }
    ++r->log_lines_;
    const std::string_view text(msg, std::min(len, kMaxLogBytes));
    BPFEX_LOG_INFO("rule {}: {}{}", r->name_, text, len > kMaxLogBytes ? " [truncated]" : "");
    return 0;
  }

  // ---- BPF maps and events -----------------------------------------------------

  struct MapCache {
    uint64_t tick = UINT64_MAX;
    MapView view;
    uint64_t index_tick = UINT64_MAX;  // key bytes -> entry, built on the first lookup of a tick
    std::unordered_map<std::string, uint32_t> index;
  };
  std::unordered_map<std::string, MapCache> maps;
  struct EventCache {
    const bpf::EventReader* reader = nullptr;
    uint64_t tick = UINT64_MAX;
    std::map<std::string, bpf::Layout> layouts;
  };
  std::unordered_map<std::string, EventCache> events;

  static Impl& impl(lua_State* L) { return *static_cast<Impl*>(lua_touserdata(L, lua_upvalueindex(2))); }

  static const MapView& view(lua_State* L, const std::string& name) {
    Rule* r = self(L);
    if (!r->in_tick_ || r->ctx_ == nullptr || r->ctx_->data == nullptr)
      luaL_error(L, "bpf map %s: maps are read in on_tick functions", name.c_str());
    MapCache& c = impl(L).maps[name];
    if (c.tick != r->ctx_->tick) {
      auto v = r->ctx_->data->mapView(name);
      if (!v) luaL_error(L, "%s", v.error().message().c_str());
      c.view = v.value();
      c.tick = r->ctx_->tick;
    }
    return c.view;
  }

  // bpf.map(name) -> handle; map_name(handle) -> name. The prelude's map
  // methods take the name from the handle once, so a forged `self` (a table
  // whose name changes between reads) cannot pair one map's buffer with
  // another's layout.
  static int mapNew(lua_State* L) {
    size_t len = 0;
    const char* name = luaL_checklstring(L, 1, &len);
    if (len == 0 || len > 4096) return luaL_error(L, "bpf.map(name): a name of 1 to 4096 bytes");
    auto* h = static_cast<MapHandle*>(lua_newuserdata(L, sizeof(MapHandle) + len));
    h->len = static_cast<uint32_t>(len);
    std::memcpy(h->name, name, len);
    h->name[len] = '\0';
    luaL_getmetatable(L, kMapMeta);
    lua_setmetatable(L, -2);
    return 1;
  }
  static int mapName(lua_State* L) {
    auto* h = static_cast<MapHandle*>(luaL_checkudata(L, 1, kMapMeta));
    lua_pushlstring(L, h->name, h->len);
    return 1;
  }

  // bpf.export(map, metric, value_field [, labels_from]): the declaration of
  // a family filled from a map with no Lua per entry (lua/map_export.h), at
  // the top level only. labels_from: {label = key_field}, for labels not
  // named as their key field.
  static int mapExport(lua_State* L) {
    Rule* r = self(L);
    if (r->in_tick_) return luaL_error(L, "bpf.export is declared at the top level of a rule, not in on_tick");
    MapExportDecl d;
    auto* mh = static_cast<MapHandle*>(luaL_checkudata(L, 1, kMapMeta));
    d.map.assign(mh->name, mh->len);
    auto* h = static_cast<MetricHandle*>(luaL_checkudata(L, 2, kMetricMeta));
    d.decl = h->decl;
    const FamilyOptions& o = r->decls_[d.decl];
    if (o.type != MetricType::kCounter && o.type != MetricType::kGauge && o.type != MetricType::kUntyped)
      return luaL_error(L, "bpf.export(%s): metric %s is a %s; export writes counters and gauges", d.map.c_str(),
                        o.name.c_str(), std::string(metrics::metricTypeName(o.type)).c_str());
    d.value_field = luaL_checkstring(L, 3);
    d.key_fields = o.label_names;  // by default each label is the key field of its name
    if (!lua_isnoneornil(L, 4)) {
      luaL_checktype(L, 4, LUA_TTABLE);
      lua_pushnil(L);
      while (lua_next(L, 4) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
          return luaL_error(L, "bpf.export(%s): labels_from maps label names to key field names", d.map.c_str());
        const std::string label = lua_tostring(L, -2);
        const auto it = std::find(o.label_names.begin(), o.label_names.end(), label);
        if (it == o.label_names.end())
          return luaL_error(L, "bpf.export(%s): metric %s has no label %s", d.map.c_str(), o.name.c_str(), label.c_str());
        d.key_fields[static_cast<size_t>(it - o.label_names.begin())] = lua_tostring(L, -1);
        lua_pop(L, 1);
      }
    }
    for (const MapExport& e : r->exports_)
      if (e.decl().decl == d.decl)
        return luaL_error(L, "bpf.export(%s): metric %s is exported twice", d.map.c_str(), o.name.c_str());
    lua_Debug ar;
    d.where = r->name_;
    if (lua_getstack(L, 1, &ar) != 0 && lua_getinfo(L, "Sl", &ar) != 0 && ar.currentline > 0)
      d.where = r->fullChunkNames(std::string(ar.short_src)) + ":" + std::to_string(ar.currentline);
    r->exports_.emplace_back(std::move(d));
    return 0;
  }

  static int mapView(lua_State* L) {
    const MapView& v = view(L, luaL_checkstring(L, 1));
    lua_pushlightuserdata(L, const_cast<uint8_t*>(v.keys));
    lua_pushlightuserdata(L, const_cast<uint8_t*>(v.values));
    lua_pushnumber(L, static_cast<double>(v.count));
    lua_pushnumber(L, v.key_size);
    lua_pushnumber(L, v.value_size);
    return 5;
  }

  static void pushLayout(lua_State* L, const bpf::Layout& l, const std::string& map, int which) {
    std::vector<bool> emitted;
    const std::string cdecl = l.cDeclaration("bpfex_layout", &emitted);
    lua_newtable(L);
    lua_pushstring(L, cdecl.c_str());
    lua_setfield(L, -2, "cdecl");
    lua_pushstring(L, "bpfex_layout");
    lua_setfield(L, -2, "struct_name");
    lua_pushstring(L, map.c_str());
    lua_setfield(L, -2, "map_name");
    lua_pushinteger(L, which);
    lua_setfield(L, -2, "which");
    lua_newtable(L);
    for (size_t i = 0; i < l.fields().size(); ++i) {
      const bpf::Field& f = l.fields()[i];
      lua_newtable(L);
      lua_pushstring(L, f.name.c_str());
      lua_setfield(L, -2, "name");
      lua_pushstring(L, bpf::Layout::cMemberName(i, f).c_str());
      lua_setfield(L, -2, "cname");
      const char* kind = "u";
      switch (f.kind) {
        case bpf::FieldKind::kSigned: kind = "s"; break;
        case bpf::FieldKind::kBool: kind = "b"; break;
        case bpf::FieldKind::kEnum: kind = "e"; break;
        case bpf::FieldKind::kFloat: kind = "f"; break;
        case bpf::FieldKind::kString: kind = "str"; break;
        case bpf::FieldKind::kBytes: kind = "bytes"; break;
        default: break;
      }
      lua_pushstring(L, kind);
      lua_setfield(L, -2, "kind");
      lua_pushinteger(L, f.count);
      lua_setfield(L, -2, "count");
      lua_pushinteger(L, f.size);
      lua_setfield(L, -2, "size");
      // Floats take the C++ path too: LuaJIT's FFI hands a NaN read from
      // memory to Lua with its payload, and LuaJIT's NaN-tagged values take
      // some payloads for nil or a pointer (a random float crashed the
      // daemon: decode_diff seed 22). lua_pushnumber canonicalizes NaNs.
      lua_pushboolean(L, emitted[i] && f.kind != bpf::FieldKind::kBytes && f.kind != bpf::FieldKind::kFloat);
      lua_setfield(L, -2, "emitted");
      if (f.enums) {
        lua_newtable(L);
        // Keyed as the accessor reads the field: a number, or beyond 2^53
        // the exact digits in the enum's signedness.
        for (const auto& [v, n] : f.enums->values) {
          pushExact(L, f.enums->is_signed ? v : static_cast<int64_t>(0), f.enums->is_signed ? 0 : static_cast<uint64_t>(v),
                    f.enums->is_signed);
          lua_pushstring(L, n.c_str());
          lua_rawset(L, -3);
        }
        lua_setfield(L, -2, "enums");
      }
      lua_rawseti(L, -2, static_cast<int>(i + 1));
    }
    lua_setfield(L, -2, "fields");
  }

  static int mapLayout(lua_State* L) {
    const std::string name = luaL_checkstring(L, 1);
    const MapView& v = view(L, name);
    pushLayout(L, *v.key_layout, name, 0);
    pushLayout(L, *v.value_layout, name, 1);
    return 2;
  }

  // Slow path for fields FFI cannot declare (bitfields, union alternatives, bytes).
  static int readField(lua_State* L) {
    const std::string name = luaL_checkstring(L, 1);
    const int which = static_cast<int>(luaL_checkinteger(L, 2));
    const auto fi = static_cast<size_t>(luaL_checkinteger(L, 3));
    const size_t idx = checkWhole(L, 4, "entry index");
    const MapView& v = view(L, name);
    const bpf::Layout& l = which == 0 ? *v.key_layout : *v.value_layout;
    if (fi < 1 || fi > l.fields().size() || idx >= v.count) return luaL_error(L, "field read out of range");
    const uint8_t* base = which == 0 ? v.keys + idx * v.key_size : v.values + idx * v.value_size;
    pushDecoded(L, l.fields()[fi - 1], base);  // as lookup() shows it
    return 1;
  }

  // An integer as rules see it: a number while a float64 holds it exactly
  // (|v| < 2^53), beyond that its exact decimal digits as a string (Lua's
  // arithmetic still coerces it; labels keep every digit).
  static void pushExact(lua_State* L, int64_t s, uint64_t u, bool is_signed) {
    constexpr auto kLimit = static_cast<int64_t>(bpf::kExactDoubleLimit);
    char buf[24];
    if (is_signed) {
      if (s > -kLimit && s < kLimit) return lua_pushnumber(L, static_cast<double>(s));
      lua_pushlstring(L, buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, s).ptr - buf));
    } else {
      if (u < bpf::kExactDoubleLimit) return lua_pushnumber(L, static_cast<double>(u));
      lua_pushlstring(L, buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, u).ptr - buf));
    }
  }
  // One numeric element of a field: integers exact (pushExact), floats as numbers.
  static void pushField(lua_State* L, const bpf::Field& f, const uint8_t* base, uint32_t j) {
    if (f.kind == bpf::FieldKind::kFloat) return lua_pushnumber(L, bpf::readNumber(f, base, j));
    if (bpf::readsSigned(f)) return pushExact(L, bpf::readSigned(f, base, j), 0, true);
    pushExact(L, 0, bpf::readUnsigned(f, base, j), false);
  }

  static void pushDecoded(lua_State* L, const bpf::Field& f, const uint8_t* base) {
    if (f.count > 1 && f.isNumeric()) {
      lua_createtable(L, static_cast<int>(f.count), 0);
      for (uint32_t j = 0; j < f.count; ++j) {
        if (f.kind == bpf::FieldKind::kEnum || f.kind == bpf::FieldKind::kBool) {
          const std::string s = bpf::formatField(f, base, j);
          if (f.kind == bpf::FieldKind::kBool) lua_pushboolean(L, bpf::readUnsigned(f, base, j) != 0);
          else lua_pushlstring(L, s.data(), s.size());
        } else {
          pushField(L, f, base, j);
        }
        lua_rawseti(L, -2, static_cast<int>(j + 1));
      }
    } else if (f.kind == bpf::FieldKind::kBool) {
      lua_pushboolean(L, bpf::readUnsigned(f, base) != 0);
    } else if (bpf::isIntegerKind(f.kind) || f.kind == bpf::FieldKind::kFloat) {
      pushField(L, f, base, 0);
    } else {
      const std::string s = bpf::formatField(f, base);
      lua_pushlstring(L, s.data(), s.size());
    }
  }

  // One scalar of a lookup key from the value on top of the stack, in any
  // form a view gives it: a number, a boolean, or text as configs take it
  // (digit strings for values beyond 2^53, enum names: bpf::encodeValue).
  static void writeKeyScalar(lua_State* L, const bpf::Field& f, uint32_t e, uint8_t* kb, const std::string& map) {
    const int t = lua_type(L, -1);
    if (f.kind == bpf::FieldKind::kFloat) {
      const double d = luaL_checknumber(L, -1);
      if (f.size == 4) {
        const auto x = static_cast<float>(d);
        std::memcpy(kb + f.offset + e * 4, &x, 4);
      } else {
        std::memcpy(kb + f.offset + e * 8, &d, 8);
      }
      return;
    }
    if (t == LUA_TSTRING) {
      auto u = bpf::encodeValue(f, lua_tostring(L, -1));
      if (!u) luaL_error(L, "lookup in %s: %s", map.c_str(), u.error().message().c_str());
      return bpf::writeUnsigned(f, kb, u.value(), e);
    }
    if (t == LUA_TBOOLEAN) return bpf::writeUnsigned(f, kb, lua_toboolean(L, -1) ? 1 : 0, e);
    const double d = luaL_checknumber(L, -1);
    if (std::trunc(d) != d || d < -9223372036854775808.0 || d >= 18446744073709551616.0)
      luaL_error(L, "lookup in %s: key field %s: %s is not an integer", map.c_str(), f.name.c_str(), lua_tostring(L, -1));
    bpf::writeUnsigned(f, kb, d < 0 ? static_cast<uint64_t>(static_cast<int64_t>(d)) : static_cast<uint64_t>(d), e);
  }

  // A number as labels write it (exact digits when integral), else nil:
  // the sandbox's tostring for numbers beyond %.14g's 14 digits.
  static int integerText(lua_State* L) {
    const double d = luaL_checknumber(L, 1);
    if (std::trunc(d) != d) {
      lua_pushnil(L);
      return 1;
    }
    char buf[metrics::kMaxNumberChars];
    lua_pushlstring(L, buf, static_cast<size_t>(metrics::formatLabelNumber(buf, d) - buf));
    return 1;
  }

  // m:lookup({field = value, ...}) -> the entry's value as a table, or nil.
  static int mapLookup(lua_State* L) {
    const std::string name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    const MapView& v = view(L, name);
    std::string key(v.key_size, '\0');
    auto* kb = reinterpret_cast<uint8_t*>(key.data());
    // Every field is required but a union's later alternatives (a field
    // whose bits overlap an earlier one's): give the member the key uses.
    uint64_t bits_seen = 0;
    for (const bpf::Field& f : v.key_layout->fields()) {
      const uint64_t start = uint64_t{f.offset} * 8 + f.bit_shift;
      const uint64_t bits = f.bit_size != 0 ? f.bit_size
                            : uint64_t{8} * (f.kind == bpf::FieldKind::kString || f.kind == bpf::FieldKind::kBytes ? f.size : f.size * f.count);
      const bool alternative = start < bits_seen;
      bits_seen = std::max(bits_seen, start + bits);
      rawField(L, 2, f.name.c_str());
      const int t = lua_type(L, -1);
      if (t == LUA_TNIL && alternative) {
        lua_pop(L, 1);
        continue;
      }
      if (t == LUA_TNIL) return luaL_error(L, "lookup in %s: key field %s missing", name.c_str(), f.name.c_str());
      if (f.kind == bpf::FieldKind::kString) {
        size_t len = 0;
        const char* s = luaL_checklstring(L, -1, &len);
        std::memcpy(kb + f.offset, s, std::min<size_t>(len, f.size));
      } else if (f.kind == bpf::FieldKind::kBytes) {  // hex, as views show it
        size_t len = 0;
        const char* s = luaL_checklstring(L, -1, &len);
        if (len != 2 * f.size) return luaL_error(L, "lookup in %s: key field %s: give %d hex digits", name.c_str(), f.name.c_str(), static_cast<int>(2 * f.size));
        for (uint32_t b = 0; b < f.size; ++b) {
          uint8_t byte = 0;
          if (auto [p, ec] = std::from_chars(s + 2 * b, s + 2 * b + 2, byte, 16); ec != std::errc() || p != s + 2 * b + 2)
            return luaL_error(L, "lookup in %s: key field %s: \"%s\" is not hex", name.c_str(), f.name.c_str(), s);
          kb[f.offset + b] = byte;
        }
      } else if (f.count > 1) {  // an array of scalars: a table, as views give it
        if (t != LUA_TTABLE) return luaL_error(L, "lookup in %s: key field %s is an array: give a table", name.c_str(), f.name.c_str());
        for (uint32_t e = 0; e < f.count; ++e) {
          lua_rawgeti(L, -1, static_cast<int>(e + 1));
          if (lua_isnil(L, -1)) return luaL_error(L, "lookup in %s: key field %s[%d] missing", name.c_str(), f.name.c_str(), static_cast<int>(e + 1));
          writeKeyScalar(L, f, e, kb, name);
          lua_pop(L, 1);
        }
      } else {
        writeKeyScalar(L, f, 0, kb, name);
      }
      lua_pop(L, 1);
    }
    MapCache& c = impl(L).maps[name];
    if (c.index_tick != c.tick) {
      c.index.clear();
      c.index.reserve(v.count);
      for (size_t i = 0; i < v.count; ++i)
        c.index.emplace(std::string(reinterpret_cast<const char*>(v.keys + i * v.key_size), v.key_size),
                        static_cast<uint32_t>(i));
      c.index_tick = c.tick;
    }
    auto it = c.index.find(key);
    if (it == c.index.end()) {
      lua_pushnil(L);
      return 1;
    }
    const uint8_t* vb = v.values + static_cast<size_t>(it->second) * v.value_size;
    lua_createtable(L, 0, static_cast<int>(v.value_layout->fields().size()));
    for (const bpf::Field& f : v.value_layout->fields()) {
      pushDecoded(L, f, vb);
      lua_setfield(L, -2, f.name.c_str());
    }
    return 1;
  }

  static int mapInfo(lua_State* L) {
    const MapView& v = view(L, luaL_checkstring(L, 1));
    lua_newtable(L);
    lua_pushstring(L, v.info->name.c_str());
    lua_setfield(L, -2, "name");
    lua_pushstring(L, std::string(bpf::mapTypeName(v.info->type)).c_str());
    lua_setfield(L, -2, "type");
    lua_pushnumber(L, v.info->max_entries);
    lua_setfield(L, -2, "max_entries");
    lua_pushnumber(L, static_cast<double>(v.count));
    lua_setfield(L, -2, "entries");
    lua_pushnumber(L, v.info->id);
    lua_setfield(L, -2, "id");
    return 1;
  }

  static EventCache& eventCache(lua_State* L, const std::string& name) {
    Rule* r = self(L);
    if (!r->in_tick_ || r->ctx_ == nullptr || r->ctx_->data == nullptr)
      luaL_error(L, "bpf events %s: read in on_tick functions", name.c_str());
    EventCache& c = impl(L).events[name];
    if (c.tick != r->ctx_->tick) {
      auto ev = r->ctx_->data->events(name);
      if (!ev) luaL_error(L, "%s", ev.error().message().c_str());
      c.reader = ev.value();
      c.tick = r->ctx_->tick;
    }
    return c;
  }

  static int eventsView(lua_State* L) {
    const std::string name = luaL_checkstring(L, 1), decl = luaL_checkstring(L, 2);
    EventCache& c = eventCache(L, name);
    auto it = c.layouts.find(decl);
    if (it == c.layouts.end()) {
      auto l = bpf::Layout::fromDeclaration(decl);
      if (!l) return luaL_error(L, "bpf.events %s: %s", name.c_str(), l.error().message().c_str());
      it = c.layouts.emplace(decl, std::move(l).value()).first;
    }
    lua_pushnumber(L, static_cast<double>(c.reader->count()));
    lua_newtable(L);
    for (size_t i = 0; i < it->second.fields().size(); ++i) {
      lua_pushinteger(L, static_cast<lua_Integer>(i));
      lua_setfield(L, -2, it->second.fields()[i].name.c_str());
    }
    return 2;
  }

  static int eventField(lua_State* L) {
    const std::string name = luaL_checkstring(L, 1);
    const size_t i = checkWhole(L, 2, "event index");
    const size_t fi = checkWhole(L, 3, "event field");
    EventCache& c = eventCache(L, name);
    if (c.layouts.empty() || i >= c.reader->count()) return luaL_error(L, "event index out of range");
    const bpf::Layout& l = c.layouts.begin()->second;
    if (fi >= l.fields().size()) return luaL_error(L, "event field out of range");
    const bpf::Field& f = l.fields()[fi];
    if (f.offset + f.size * f.count > c.reader->size(i)) return luaL_error(L, "event %d is shorter than its layout", static_cast<int>(i));
    if (f.kind == bpf::FieldKind::kString) {
      const auto s = bpf::readString(f, c.reader->event(i));
      lua_pushlstring(L, s.data(), s.size());
    } else {
      pushField(L, f, c.reader->event(i), 0);
    }
    return 1;
  }

  // ---- history windows: rate, increase, delta, avg/min/max over a window ------

  static int window(lua_State* L) {
    const double secs = durationArg(L, 1, "window");
    if (!(secs > 0) || secs > 86400) return luaL_error(L, "a window is between 0 and 1 day");
    // The window lives in the userdata: collected with it (__gc), and what
    // it holds is charged to the rule (Rule::memoryBytes, the cap).
    void* mem = lua_newuserdata(L, sizeof(HistoryWindow));
    new (mem) HistoryWindow(secs);
    luaL_getmetatable(L, kWindowMeta);
    lua_setmetatable(L, -2);
    return 1;
  }
  static int windowGc(lua_State* L) {
    auto* w = static_cast<HistoryWindow*>(luaL_checkudata(L, 1, kWindowMeta));
    Rule* r = self(L);
    r->window_bytes_ -= std::min(r->window_bytes_, w->bytes());
    w->~HistoryWindow();
    return 0;
  }
  // w:<fn>(key, v [, arg]): adds the sample v of key at this run's time, and
  // returns fn over the key's window (nil: no result, as PromQL's absent).
  template <RangeFn Fn>
  static int windowOp(lua_State* L) {
    Rule* r = self(L);
    auto* w = static_cast<HistoryWindow*>(luaL_checkudata(L, 1, kWindowMeta));
    size_t len = 0;
    const char* k = luaL_checklstring(L, 2, &len);
    const double v = luaL_checknumber(L, 3);
    const double arg = rangeFnTakesArg(Fn) ? luaL_checknumber(L, 4) : 0;
    const double now = r->ctx_ ? r->ctx_->now_mono : base::monotonicSeconds();
    const std::string key(k, len);
    const size_t before = w->bytes();
    if (r->mem_limited_ && r->mem_used_ + r->window_bytes_ + key.size() + 1024 > r->limits_.memory_bytes)
      return luaL_error(L, "not enough memory: the rule's windows and Lua heap reach its cap of %d bytes",
                        static_cast<int>(std::min<size_t>(r->limits_.memory_bytes, INT32_MAX)));
    w->add(key, now, v);
    r->window_bytes_ = r->window_bytes_ - std::min(r->window_bytes_, before) + w->bytes();
    const std::optional<double> out = w->eval(Fn, key, now, arg);
    if (out) lua_pushnumber(L, *out);
    else lua_pushnil(L);
    return 1;
  }

  // ---- host facts ------------------------------------------------------------

  // host.ifname(ifindex [, netns]): the interface's name, looked up in a
  // named network namespace when given (cached for a minute: a namespace
  // switch costs a thread).
  std::map<std::pair<std::string, unsigned>, std::pair<double, std::string>> ifnames;
  static int hostIfname(lua_State* L) {
    const auto idx = static_cast<unsigned>(checkWhole(L, 1, "ifindex", 4294967295.0));
    const std::string netns = luaL_optstring(L, 2, "");
    Impl& im = impl(L);
    const double now = base::monotonicSeconds();
    auto& slot = im.ifnames[{netns, idx}];
    if (slot.first == 0 || now - slot.first > 60) {
      std::string name;
      (void)bpf::inNetns(netns, [&]() -> Status {
        char buf[IF_NAMESIZE] = {};
        if (if_indextoname(idx, buf) != nullptr) name = buf;
        return base::okStatus();
      });
      slot = {now, name};
    }
    if (slot.second.empty()) lua_pushnil(L);
    else lua_pushlstring(L, slot.second.data(), slot.second.size());
    return 1;
  }
  static int hostUptime(lua_State* L) {
    std::ifstream in("/proc/uptime");
    double up = 0;
    in >> up;
    lua_pushnumber(L, up);
    return 1;
  }
  static int hostNumCpus(lua_State* L) {
    lua_pushnumber(L, static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN)));
    return 1;
  }
  // Per-CPU busy percent since the previous call from this rule (first call:
  // since boot). Returns {["0"] = 12.5, ...}.
  std::map<std::string, std::pair<double, double>> cpu_prev;
  static int hostCpuUsage(lua_State* L) {
    std::ifstream in("/proc/stat");
    std::string line;
    Impl& im = impl(L);
    lua_newtable(L);
    while (std::getline(in, line)) {
      if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] == ' ') continue;
      std::istringstream ss(line);
      std::string cpu;
      ss >> cpu;
      double v[10] = {};
      for (double& x : v) ss >> x;
      const double idle = v[3] + v[4], total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
      const std::string id = cpu.substr(3);
      auto& prev = im.cpu_prev[id];
      const double dt = total - prev.first, di = idle - prev.second;
      prev = {total, idle};
      lua_pushnumber(L, dt > 0 ? 100.0 * (dt - di) / dt : 0);
      lua_setfield(L, -2, id.c_str());
    }
    return 1;
  }
  // Up and running (IFF_UP and IFF_RUNNING: operstate up or unknown, as the
  // kernel derives IFF_RUNNING), false if not, nil if there is no such
  // interface, in bpfex's namespace or a named one (sysfs would show only
  // the namespace it was mounted in, so ask the kernel there instead).
  static int hostInterfaceUp(lua_State* L) {
    const std::string name = luaL_checkstring(L, 1);
    const std::string netns = luaL_optstring(L, 2, "");
    if (name.empty() || name.size() >= IF_NAMESIZE || name.find('/') != std::string::npos)
      return luaL_error(L, "bad interface name");
    int flags = -1;
    (void)bpf::inNetns(netns, [&]() -> Status {
      base::UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      ifreq req{};
      std::memcpy(req.ifr_name, name.data(), name.size());
      if (sock.get() >= 0 && ioctl(sock.get(), SIOCGIFFLAGS, &req) == 0) flags = req.ifr_flags;
      return base::okStatus();
    });
    if (flags < 0) lua_pushnil(L);
    else lua_pushboolean(L, (flags & IFF_UP) != 0 && (flags & IFF_RUNNING) != 0);
    return 1;
  }
  // Another process's memory, as an alert on it needs: its resident bytes
  // (/proc/<pid>/statm) and the limit it runs under: its cgroup's
  // memory.max (cgroup v2), or the host's memory when that is "max" or
  // absent. nil and why when the process is gone.
  static int hostProcessMemory(lua_State* L) {
    const double pid_num = checkWhole(L, 1, "pid", 4194304.0);
    if (pid_num < 1) return luaL_error(L, "host.process_memory: pid must be positive");
    const std::string pid = std::to_string(static_cast<long>(pid_num));
    std::ifstream statm("/proc/" + pid + "/statm");
    double pages_total = 0, pages_resident = -1;
    statm >> pages_total >> pages_resident;
    if (!statm || pages_resident < 0) {
      lua_pushnil(L);
      lua_pushstring(L, ("no process " + pid).c_str());
      return 2;
    }
    double limit = 0;
    std::ifstream cg("/proc/" + pid + "/cgroup");
    for (std::string line; std::getline(cg, line);) {
      if (line.rfind("0::", 0) != 0) continue;
      const std::string path = line.substr(3);
      if (path.find("..") != std::string::npos) break;
      std::ifstream max("/sys/fs/cgroup" + path + "/memory.max");
      std::string v;
      if (max >> v && v != "max") limit = std::strtod(v.c_str(), nullptr);
    }
    if (limit <= 0) {
      std::ifstream mi("/proc/meminfo");
      for (std::string key; mi >> key;) {
        double kb = 0;
        std::string unit;
        mi >> kb >> unit;
        if (key == "MemTotal:") {
          limit = kb * 1024;
          break;
        }
      }
    }
    lua_newtable(L);
    lua_pushnumber(L, pages_resident * static_cast<double>(sysconf(_SC_PAGESIZE)));
    lua_setfield(L, -2, "resident_bytes");
    lua_pushnumber(L, limit);
    lua_setfield(L, -2, "limit_bytes");
    return 1;
  }
  // A duration in seconds, parsed as every duration in bpfex is ("250ms",
  // "5m", "1d", or a number of seconds), so rule parameters take the same
  // syntax as the config.
  static int bpfexDuration(lua_State* L) {
    if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TNUMBER)
      return luaL_error(L, "bpfex.duration: expected a duration such as \"5m\"");
    lua_pushnumber(L, durationArg(L, 1, "bpfex.duration"));
    return 1;
  }
  // Daemon facts.
  static int bpfexUptime(lua_State* L) {
    static const double start = base::monotonicSeconds();
    lua_pushnumber(L, base::monotonicSeconds() - start);
    return 1;
  }
  // Real monotonic seconds, for timing work within a run (bpfex.now() is the
  // tick's time and does not move during it).
  static int bpfexClock(lua_State* L) {
    lua_pushnumber(L, base::monotonicSeconds());
    return 1;
  }
  static int bpfexRestarts(lua_State* L) {
    Rule* r = self(L);
    lua_pushnumber(L, r->ctx_ ? static_cast<double>(r->ctx_->restarts) : 0);
    return 1;
  }
  // bpfex.process() -> {resident_bytes, virtual_bytes, cpu_seconds, threads,
  // start_time_seconds (since boot)}, from /proc/self.
  static int bpfexProcess(lua_State* L) {
    std::ifstream in("/proc/self/stat");
    std::string line;
    std::getline(in, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos) return luaL_error(L, "bpfex.process: cannot read /proc/self/stat");
    std::istringstream ss(line.substr(close + 2));
    std::vector<std::string> f;  // f[0] is field 3 (state)
    for (std::string x; ss >> x;) f.push_back(x);
    if (f.size() < 22) return luaL_error(L, "bpfex.process: short /proc/self/stat");
    const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    auto num = [&](size_t field) { return std::strtod(f[field - 3].c_str(), nullptr); };
    lua_newtable(L);
    lua_pushnumber(L, (num(14) + num(15)) / hz);
    lua_setfield(L, -2, "cpu_seconds");
    lua_pushnumber(L, num(20));
    lua_setfield(L, -2, "threads");
    lua_pushnumber(L, num(22) / hz);
    lua_setfield(L, -2, "start_time_seconds");
    lua_pushnumber(L, num(23));
    lua_setfield(L, -2, "virtual_bytes");
    lua_pushnumber(L, num(24) * page);
    lua_setfield(L, -2, "resident_bytes");
    return 1;
  }
  static int bpfexNow(lua_State* L) {
    Rule* r = self(L);
    lua_pushnumber(L, r->ctx_ ? r->ctx_->now_unix : luaNow());
    return 1;
  }

  // ---- regular expressions (POSIX extended, cached) -----------------------------

  std::unordered_map<std::string, std::shared_ptr<regex_t>> regexes;
  static int reMatch(lua_State* L) {
    const char* s = luaL_checkstring(L, 1);
    const std::string pat = luaL_checkstring(L, 2);
    Impl& im = impl(L);
    auto it = im.regexes.find(pat);
    if (it == im.regexes.end()) {
      auto re = std::shared_ptr<regex_t>(new regex_t, [](regex_t* r) { regfree(r); delete r; });
      // Anchored like Prometheus' relabelling: the whole value must match.
      const std::string anchored = "^(" + pat + ")$";
      if (const int rc = regcomp(re.get(), anchored.c_str(), REG_EXTENDED | REG_NOSUB); rc != 0) {
        char msg[256];
        regerror(rc, re.get(), msg, sizeof msg);
        return luaL_error(L, "re.match: bad regex \"%s\": %s", pat.c_str(), msg);
      }
      if (im.regexes.size() > 1000) im.regexes.clear();
      it = im.regexes.emplace(pat, std::move(re)).first;
    }
    lua_pushboolean(L, regexec(it->second.get(), s, 0, nullptr, 0) == 0);
    return 1;
  }

  // ---- push jobs: http.get, json.decode --------------------------------------

  static JobHost* jobHost(lua_State* L, const char* what) {
    Rule* r = self(L);
    if (r->ctx_ == nullptr || r->ctx_->job == nullptr) luaL_error(L, "%s is available to push jobs only", what);
    return r->ctx_->job;
  }
  // status, body = http.get(url [, timeout_seconds]); on failure: nil, message
  // The Lua convention for an expected failure: nil and why.
  static int nilAnd(lua_State* L, const std::string& why) {
    lua_pushnil(L);
    lua_pushlstring(L, why.data(), why.size());
    return 2;
  }
  static int httpGet(lua_State* L) {
    const std::string url = luaL_checkstring(L, 1);
    const double timeout = luaL_optnumber(L, 2, 10);
    auto r = jobHost(L, "http.get")->httpGet(url, timeout);
    if (!r) return nilAnd(L, r.error().message());
    lua_pushnumber(L, static_cast<double>(r->first));
    lua_pushlstring(L, r->second.data(), r->second.size());
    return 2;
  }
  static void pushJson(lua_State* L, const nlohmann::json& j, int depth) {
    if (depth > 100) luaL_error(L, "json.decode: nesting deeper than 100");
    luaL_checkstack(L, 4, "json");
    switch (j.type()) {
      case nlohmann::json::value_t::object:
        lua_createtable(L, 0, static_cast<int>(j.size()));
        for (const auto& [k, v] : j.items()) {
          pushJson(L, v, depth + 1);
          lua_setfield(L, -2, k.c_str());
        }
        break;
      case nlohmann::json::value_t::array: {
        lua_createtable(L, static_cast<int>(j.size()), 0);
        int i = 1;
        for (const auto& v : j) {
          pushJson(L, v, depth + 1);
          lua_rawseti(L, -2, i++);
        }
        break;
      }
      case nlohmann::json::value_t::string: {
        const auto& s = j.get_ref<const std::string&>();
        lua_pushlstring(L, s.data(), s.size());
        break;
      }
      case nlohmann::json::value_t::boolean: lua_pushboolean(L, j.get<bool>()); break;
      case nlohmann::json::value_t::number_integer:
      case nlohmann::json::value_t::number_unsigned:
      case nlohmann::json::value_t::number_float: lua_pushnumber(L, j.get<double>()); break;
      default: lua_pushnil(L);
    }
  }
  // fs.read(path) -> contents (at most 64 MiB), or nil, message
  static int fsRead(lua_State* L) {
    auto r = jobHost(L, "fs.read")->readFile(luaL_checkstring(L, 1), 64u << 20);
    if (!r) return nilAnd(L, r.error().message());
    lua_pushlstring(L, r->data(), r->size());
    return 1;
  }
  // fs.walk(dir) -> a list of file paths under dir (recursive), or nil, message
  static int fsWalk(lua_State* L) {
    auto r = jobHost(L, "fs.walk")->walk(luaL_checkstring(L, 1), 100000);
    if (!r) return nilAnd(L, r.error().message());
    lua_createtable(L, static_cast<int>(r->size()), 0);
    for (size_t i = 0; i < r->size(); ++i) {
      lua_pushstring(L, (*r)[i].c_str());
      lua_rawseti(L, -2, static_cast<int>(i + 1));
    }
    return 1;
  }

  // job.failed(reason): the job records its failure and goes on; its metrics
  // are still pushed (with POST, keeping the last success time).
  static int jobFailed(lua_State* L) {
    (void)jobHost(L, "job.failed");
    self(L)->job_failure_ = luaL_optstring(L, 1, "job failed");
    return 0;
  }
  // ---- state: small JSON documents in the daemon's state directory ----------

  static std::string statePath(lua_State* L, const char* fn) {
    Rule* r = self(L);
    const std::string name = luaL_checkstring(L, 1);
    if (name.empty() || name.size() > 64 ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
      luaL_error(L, "%s: name must be 1-64 letters, digits, _ or -", fn);
    // The daemon keeps its own files in the same directory (alert for-state,
    // the start count): a rule may neither read nor overwrite them.
    if (name == "alerts_for_state" || name.rfind("bpfex", 0) == 0)
      luaL_error(L, "%s: \"%s\" is reserved for bpfex's own state", fn, name.c_str());
    if (r->ctx_ == nullptr || r->ctx_->state_dir.empty()) return {};
    return r->ctx_->state_dir + "/" + name + ".json";
  }
  // state.read(name) -> the table state.write stored, or nil and why.
  static int stateRead(lua_State* L) {
    const std::string path = statePath(L, "state.read");
    if (path.empty()) return nilAnd(L, "no state directory (config state_dir)");
    auto text = base::readFile(path, 1u << 20);
    if (!text) return nilAnd(L, text.error().message());
    auto j = nlohmann::json::parse(text.value(), nullptr, false);
    if (j.is_discarded()) return nilAnd(L, path + ": not valid JSON");
    pushJson(L, j, 0);
    return 1;
  }
  static nlohmann::json toJson(lua_State* L, int idx, int depth) {
    if (depth > 32) luaL_error(L, "state.write: nesting deeper than 32");
    switch (lua_type(L, idx)) {
      case LUA_TNUMBER: {
        const double d = lua_tonumber(L, idx);
        // Whole numbers as integers (counts read back as 2, not 2.0).
        if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9007199254740992.0) return static_cast<int64_t>(d);
        return d;
      }
      case LUA_TBOOLEAN: return lua_toboolean(L, idx) != 0;
      case LUA_TSTRING: return std::string(lua_tostring(L, idx));
      case LUA_TTABLE: {
        nlohmann::json j = nlohmann::json::object();
        const size_t n = lua_objlen(L, idx);
        if (n > 0) j = nlohmann::json::array();
        luaL_checkstack(L, 3, "state.write");
        lua_pushnil(L);
        while (lua_next(L, idx) != 0) {
          const int top = lua_gettop(L);
          if (n > 0) {
            if (lua_type(L, -2) != LUA_TNUMBER) luaL_error(L, "state.write: a table mixes list and record keys");
            const double key = lua_tonumber(L, -2);
            if (!wholeNumber(key, static_cast<double>(n)) || key < 1) luaL_error(L, "state.write: a list with holes");
            const auto i = static_cast<size_t>(key);
            if (j.size() < i) j.get_ref<nlohmann::json::array_t&>().resize(i);
            j[i - 1] = toJson(L, top, depth + 1);
          } else {
            if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "state.write: record keys must be strings");
            j[lua_tostring(L, -2)] = toJson(L, top, depth + 1);
          }
          lua_pop(L, 1);
        }
        return j;
      }
      default: luaL_error(L, "state.write: cannot store a %s", luaL_typename(L, idx)); return {};
    }
  }
  // state.write(name, table) -> true, or nil and why. Atomic (temp + rename).
  static int stateWrite(lua_State* L) {
    const std::string path = statePath(L, "state.write");
    luaL_checktype(L, 2, LUA_TTABLE);
    const std::string text = toJson(L, 2, 0).dump();
    if (text.size() > (1u << 20)) return luaL_error(L, "state.write: over 1 MiB");
    if (path.empty()) return nilAnd(L, "no state directory (config state_dir)");
    if (auto st = base::writeFileAtomic(path, text); !st) return nilAnd(L, st.error().message());
    lua_pushboolean(L, 1);
    return 1;
  }

  // ---- series(name): the registry's current samples, as Prometheus scrapes them --

  // Pushes {name = value, ...} parsed from escaped label text a="x",b="y".
  static void pushLabels(lua_State* L, std::string_view text, std::string_view inner_name, std::string_view inner_value) {
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
  // series(name) -> {{labels = {...}, value = n}, ...}: every rule's and
  // bpfex's own series, as of the rule's run (rules that run earlier in the
  // tick have written theirs). Histograms and summaries by their sample
  // names: x_bucket (cumulative, with le), x_sum, x_count; a summary's
  // quantiles under x itself.
  static int series(lua_State* L) {
    Rule* r = self(L);
    const std::string name = luaL_checkstring(L, 1);
    if (!r->in_tick_ || r->registry_ == nullptr) return luaL_error(L, "series: call it in on_tick functions");
    using metrics::Family;
    const auto [f, which] = resolveSampleName(*r->registry_, name);
    lua_newtable(L);
    if (f == nullptr) return 1;
    int n = 0;
    f->forEachSample(which, [&](std::string_view labels, std::string_view in, std::string_view iv, double v) {
      luaL_checkstack(L, 4, "series");
      lua_createtable(L, 0, 2);
      pushLabels(L, labels, in, iv);
      lua_setfield(L, -2, "labels");
      lua_pushnumber(L, v);
      lua_setfield(L, -2, "value");
      lua_rawseti(L, -2, ++n);
    });
    return 1;
  }

  // ---- range(name, duration): a range selector over tick-resolution history --

  // range(name, "5m") -> handle: declared at the top level, so the engine
  // keeps name's samples from the load on (lua/series_history.h).
  static int range(lua_State* L) {
    Rule* r = self(L);
    if (r->in_tick_) return luaL_error(L, "ranges are declared at the top level of a rule");
    size_t len = 0;
    const char* name = luaL_checklstring(L, 1, &len);
    const std::string_view n(name, len);
    bool valid = !n.empty() && n.size() <= 200;
    for (size_t i = 0; valid && i < n.size(); ++i) {
      const char c = n[i];
      valid = std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
              (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    }
    if (!valid) return luaL_error(L, "range: '%s' is not a metric name", name);
    const double secs = durationArg(L, 2, "range");
    if (!(secs > 0) || secs > 7 * 86400) return luaL_error(L, "a range is between 0 and 7 days");
    if (r->ranges_.size() >= r->limits_.max_families) {
      r->limit_hit_ = true;
      return luaL_error(L, "more than %d ranges in one rule (rule_limits.max_families)",
                        static_cast<int>(r->limits_.max_families));
    }
    // The rule's line: level 1 is the prelude's range() wrapper.
    lua_Debug ar;
    const int line = lua_getstack(L, 2, &ar) != 0 && lua_getinfo(L, "l", &ar) != 0 ? ar.currentline : 0;
    r->ranges_.push_back({std::string(n), toMillis(secs), line});
    auto* idx = static_cast<uint32_t*>(lua_newuserdata(L, sizeof(uint32_t)));
    *idx = static_cast<uint32_t>(r->ranges_.size() - 1);
    luaL_getmetatable(L, kRangeMeta);
    lua_setmetatable(L, -2);
    return 1;
  }

  // api.range_eval(handle, fn_name, arg, match) -> {{labels, value}, ...}:
  // fn over each selected series' samples in [now - range, now]; series with
  // no result are left out, as PromQL leaves them out.
  static int rangeEval(lua_State* L) {
    Rule* r = self(L);
    const auto* idx = static_cast<const uint32_t*>(luaL_checkudata(L, 1, kRangeMeta));
    if (*idx >= r->ranges_.size()) return luaL_error(L, "not a range of this rule");
    const RangeDecl& decl = r->ranges_[*idx];
    const char* fn_name = luaL_checkstring(L, 2);
    const std::optional<RangeFn> fn = rangeFnByName(fn_name);
    if (!fn) return luaL_error(L, "%s is not a range function", fn_name);
    const double arg = rangeFnTakesArg(*fn) ? luaL_checknumber(L, 3) : 0;
    if (!r->in_tick_ || r->registry_ == nullptr || r->ctx_ == nullptr)
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
    const SeriesHistory& history = r->ctx_->history != nullptr ? *r->ctx_->history : kNoHistory;
    if (history.overflowed(decl.metric))
      return luaL_error(L, "range %s: its history went past the cap of %d samples kept for all ranges; it is "
                        "kept again after a reload (bpfex_rule_history_series_dropped_total)",
                        decl.metric.c_str(), static_cast<int>(history.limits().max_samples));
    lua_newtable(L);
    int n = 0;
    history.select(*r->registry_, decl.metric, toMillis(r->ctx_->now_mono), decl.range_ms,
                   [&](std::string_view labels, std::string_view in, std::string_view iv, std::span<const Point> pts) {
                     if (!match.empty()) {
                       // {k = "v"} as PromQL's k="v": an absent label is "".
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
                         if (!present[i]) ok = ok && match[i].second.empty();  // absent: matches ""
                       if (!ok) return;
                     }
                     const std::optional<double> v = evalRange(*fn, pts, toMillis(r->ctx_->now_mono), decl.range_ms, arg);
                     if (!v) return;
                     luaL_checkstack(L, 4, "range");
                     lua_createtable(L, 0, 2);
                     pushLabels(L, labels, in, iv);
                     lua_setfield(L, -2, "labels");
                     lua_pushnumber(L, *v);
                     lua_setfield(L, -2, "value");
                     lua_rawseti(L, -2, ++n);
                   });
    return 1;
  }

  // ---- bpf.programs() ----------------------------------------------------------

  static int bpfPrograms(lua_State* L) {
    Rule* r = self(L);
    if (!r->in_tick_ || r->ctx_ == nullptr) return luaL_error(L, "bpf.programs: call it in on_tick functions");
    std::vector<ProgramView> progs;
    if (r->ctx_->data != nullptr) progs = r->ctx_->data->programs();
    lua_createtable(L, static_cast<int>(progs.size()), 0);
    int i = 0;
    for (const ProgramView& p : progs) {
      lua_createtable(L, 0, 8);
      lua_pushstring(L, p.object.c_str());
      lua_setfield(L, -2, "object");
      lua_pushstring(L, p.name.c_str());
      lua_setfield(L, -2, "name");
      lua_pushstring(L, p.type.c_str());
      lua_setfield(L, -2, "type");
      lua_pushnumber(L, p.id);
      lua_setfield(L, -2, "id");
      lua_pushboolean(L, p.stats);
      lua_setfield(L, -2, "stats");
      lua_pushnumber(L, static_cast<double>(p.run_count));
      lua_setfield(L, -2, "run_count");
      lua_pushnumber(L, static_cast<double>(p.run_time_ns));
      lua_setfield(L, -2, "run_time_ns");
      lua_createtable(L, static_cast<int>(p.attached.size()), 0);
      int j = 0;
      for (const auto& a : p.attached) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, a.type.c_str());
        lua_setfield(L, -2, "type");
        lua_pushstring(L, a.target.c_str());
        lua_setfield(L, -2, "target");
        lua_pushstring(L, a.netns.c_str());
        lua_setfield(L, -2, "netns");
        lua_rawseti(L, -2, ++j);
      }
      lua_setfield(L, -2, "attached");
      lua_rawseti(L, -2, ++i);
    }
    return 1;
  }

  // ---- string patterns under the budget (pattern.h) ---------------------------

  static pattern::Limits& patternLimits(lua_State* L) {
    Rule* r = self(L);
    r->pattern_limits_.abort = &r->abort_flag_;
    const size_t used = r->mem_used_ + r->window_bytes_;
    r->pattern_limits_.max_result_bytes = r->mem_limited_ && used < r->limits_.memory_bytes
                                              ? r->limits_.memory_bytes - used
                                              : r->mem_limited_ ? 0 : SIZE_MAX;
    return r->pattern_limits_;
  }
  static int strFind(lua_State* L) { return pattern::find(L, patternLimits(L)); }
  static int strMatch(lua_State* L) { return pattern::match(L, patternLimits(L)); }
  static int strGmatch(lua_State* L) { return pattern::gmatch(L, &patternLimits(L)); }
  static int strGsub(lua_State* L) { return pattern::gsub(L, patternLimits(L)); }

  static int jsonDecode(lua_State* L) {
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
    pushJson(L, j, 0);
    return 1;
  }

  static void abortHook(lua_State* L, lua_Debug*);
};

void Rule::Impl::abortHook(lua_State* L, lua_Debug*) { luaL_error(L, "time budget exceeded"); }

namespace {

// Registers closures carrying the rule and its Impl as upvalues 1 and 2.
void setFunctions(lua_State* L, void* rule, void* impl,
                  std::initializer_list<std::pair<const char*, lua_CFunction>> fns) {
  for (const auto& [n, f] : fns) {
    lua_pushlightuserdata(L, rule);
    lua_pushlightuserdata(L, impl);
    lua_pushcclosure(L, f, 2);
    lua_setfield(L, -2, n);
  }
}

// Traceback message handler for every protected call into a rule.
int traceback(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

}  // namespace

void* Rule::allocate(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* r = static_cast<Rule*>(ud);
  if (nsize == 0) {
    if (ptr != nullptr) r->mem_used_ -= osize;
    std::free(ptr);
    return nullptr;
  }
  const size_t old = ptr != nullptr ? osize : 0;
  if (r->mem_limited_ && nsize > old && r->mem_used_ - old + nsize > r->limits_.memory_bytes) return nullptr;
  void* p = std::realloc(ptr, nsize);
  if (p != nullptr) r->mem_used_ = r->mem_used_ - old + nsize;
  return p;
}

Result<std::unique_ptr<Rule>> Rule::load(const std::string& name, const std::string& source,
                                         const RuleLimits& limits,
                                         const std::map<std::string, std::string>& params) {
  std::unique_ptr<Rule> r(new Rule());
  r->name_ = name;
  r->limits_ = limits;
  auto instrumented = instrumentSource(source, name);
  if (!instrumented) return std::move(instrumented).error();

  r->L_ = lua_newstate(&Rule::allocate, r.get());
  if (r->L_ == nullptr) return Error::msg(name + ": cannot create a Lua state");
  lua_State* L = r->L_;
  luaL_openlibs(L);
  auto* impl = new Impl();
  r->impl_ = impl;
  lua_pushlightuserdata(L, const_cast<char*>(&kRuleKey));
  lua_pushlightuserdata(L, r.get());
  lua_rawset(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, const_cast<char*>(&kRuleKey) + 1);
  lua_pushlightuserdata(L, impl);
  lua_rawset(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  r->tick_fns_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);

  // One metatable per handle type: methods in __index, hidden from the rule
  // (__metatable = false), a finalizer where the handle owns C++ state.
  auto handleType = [&](const char* meta, std::initializer_list<std::pair<const char*, lua_CFunction>> methods,
                        lua_CFunction gc) {
    luaL_newmetatable(L, meta);
    lua_newtable(L);
    setFunctions(L, r.get(), impl, methods);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    if (gc != nullptr) {
      lua_pushlightuserdata(L, r.get());
      lua_pushlightuserdata(L, impl);
      lua_pushcclosure(L, gc, 2);  // not guarded: a finalizer must not fail
      lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
  };
  handleType(kMetricMeta, {{"set", &guarded<&Impl::mSetMethod>}, {"add", &guarded<&Impl::mAdd>},
                           {"inc", &guarded<&Impl::mAdd>}, {"observe", &guarded<&Impl::mObserve>},
                           {"set_buckets", &guarded<&Impl::mSetBuckets>}, {"set_log2", &guarded<&Impl::mSetLog2>}, {"remove", &guarded<&Impl::mRemove>}},
             nullptr);
  handleType(kAlertMeta, {{"fire", &guarded<&Impl::alertFire>}, {"fire_each", &guarded<&Impl::alertFireEach>}},
             nullptr);
  handleType(kRangeMeta, {}, nullptr);
  handleType(kWindowMeta, {{"rate", &guarded<&Impl::windowOp<RangeFn::kRate>>},
                           {"increase", &guarded<&Impl::windowOp<RangeFn::kIncrease>>},
                           {"delta", &guarded<&Impl::windowOp<RangeFn::kDelta>>},
                           {"irate", &guarded<&Impl::windowOp<RangeFn::kIrate>>},
                           {"idelta", &guarded<&Impl::windowOp<RangeFn::kIdelta>>},
                           {"changes", &guarded<&Impl::windowOp<RangeFn::kChanges>>},
                           {"resets", &guarded<&Impl::windowOp<RangeFn::kResets>>},
                           {"deriv", &guarded<&Impl::windowOp<RangeFn::kDeriv>>},
                           {"predict_linear", &guarded<&Impl::windowOp<RangeFn::kPredictLinear>>},
                           {"avg", &guarded<&Impl::windowOp<RangeFn::kAvg>>},
                           {"min", &guarded<&Impl::windowOp<RangeFn::kMin>>},
                           {"max", &guarded<&Impl::windowOp<RangeFn::kMax>>},
                           {"sum", &guarded<&Impl::windowOp<RangeFn::kSum>>},
                           {"count", &guarded<&Impl::windowOp<RangeFn::kCount>>},
                           {"last", &guarded<&Impl::windowOp<RangeFn::kLast>>},
                           {"quantile", &guarded<&Impl::windowOp<RangeFn::kQuantile>>}},
             &Impl::windowGc);
  handleType(kMapMeta, {}, nullptr);  // methods: the prelude's (api.map_methods)

  // The prelude: trusted, with ffi; builds the rule's environment.
  lua_pushcfunction(L, traceback);
  const int handler = lua_gettop(L);
  if (luaL_loadbuffer(L, kPreludeSource, std::strlen(kPreludeSource), "=bpfex/prelude.lua") != 0)
    return Error::msg(std::string("prelude: ") + lua_tostring(L, -1));
  lua_newtable(L);  // api
  lua_newtable(L);
  setFunctions(L, r.get(), impl, {{"counter", &guarded<&Impl::declCounter>}, {"gauge", &guarded<&Impl::declGauge>},
                   {"histogram", &guarded<&Impl::declHistogram>}, {"summary", &guarded<&Impl::declSummary>},
                   {"info", &guarded<&Impl::declInfo>}});
  lua_setfield(L, -2, "metric");
  setFunctions(L, r.get(), impl, {{"alert", &guarded<&Impl::declAlert>}});
  setFunctions(L, r.get(), impl, {{"on_tick", &guarded<&Impl::onTick>}, {"interval", &guarded<&Impl::interval>},
                   {"window", &guarded<&Impl::window>}, {"log", &guarded<&Impl::log>},
                   {"range", &guarded<&Impl::range>}, {"range_eval", &guarded<&Impl::rangeEval>},
                   {"map_view", &guarded<&Impl::mapView>}, {"map_layout", &guarded<&Impl::mapLayout>},
                   {"integer_text", &Impl::integerText},
                   {"map_info", &guarded<&Impl::mapInfo>}, {"map_lookup", &guarded<&Impl::mapLookup>}, {"read_field", &guarded<&Impl::readField>},
                   {"events_view", &guarded<&Impl::eventsView>}, {"event_field", &guarded<&Impl::eventField>},
                   {"bpf_programs", &guarded<&Impl::bpfPrograms>}, {"series", &guarded<&Impl::series>},
                   {"map_new", &guarded<&Impl::mapNew>}, {"map_name", &guarded<&Impl::mapName>},
                   {"map_export", &guarded<&Impl::mapExport>},
                   {"str_find", &guarded<&Impl::strFind>}, {"str_match", &guarded<&Impl::strMatch>},
                   {"str_gmatch", &guarded<&Impl::strGmatch>}, {"str_gsub", &guarded<&Impl::strGsub>}});
  luaL_getmetatable(L, kMapMeta);
  lua_getfield(L, -1, "__index");
  lua_setfield(L, -3, "map_methods");
  lua_pop(L, 1);
  lua_newtable(L);
  setFunctions(L, r.get(), impl, {{"ifname", &guarded<&Impl::hostIfname>}, {"uptime", &guarded<&Impl::hostUptime>},
                   {"cpu_usage", &guarded<&Impl::hostCpuUsage>}, {"num_cpus", &guarded<&Impl::hostNumCpus>},
                   {"interface_up", &guarded<&Impl::hostInterfaceUp>},
                   {"process_memory", &guarded<&Impl::hostProcessMemory>}});
  lua_setfield(L, -2, "host");
  lua_newtable(L);
  setFunctions(L, r.get(), impl, {{"uptime", &guarded<&Impl::bpfexUptime>}, {"now", &guarded<&Impl::bpfexNow>}, {"clock", &guarded<&Impl::bpfexClock>},
                   {"duration", &guarded<&Impl::bpfexDuration>},
                   {"restarts", &guarded<&Impl::bpfexRestarts>}, {"process", &guarded<&Impl::bpfexProcess>}});
  lua_setfield(L, -2, "bpfex");
  lua_newtable(L);
  setFunctions(L, r.get(), impl, {{"match", &guarded<&Impl::reMatch>}});
  lua_setfield(L, -2, "re");
  lua_newtable(L);
  setFunctions(L, r.get(), impl, {{"get", &guarded<&Impl::httpGet>}});
  lua_setfield(L, -2, "http");
  setFunctions(L, r.get(), impl, {{"job_failed", &guarded<&Impl::jobFailed>}});
  lua_newtable(L);
  setFunctions(L, r.get(), impl, {{"read", &guarded<&Impl::fsRead>}, {"walk", &guarded<&Impl::fsWalk>}});
  lua_setfield(L, -2, "fs");
  lua_newtable(L);
  setFunctions(L, r.get(), impl, {{"decode", &guarded<&Impl::jsonDecode>}});
  lua_setfield(L, -2, "json");
  lua_newtable(L);
  setFunctions(L, r.get(), impl, {{"read", &guarded<&Impl::stateRead>}, {"write", &guarded<&Impl::stateWrite>}});
  lua_setfield(L, -2, "state");
  lua_newtable(L);
  for (const auto& [k, v] : params) {
    lua_pushlstring(L, v.data(), v.size());
    lua_setfield(L, -2, k.c_str());
  }
  lua_setfield(L, -2, "params");
  lua_pushlightuserdata(L, reinterpret_cast<void*>(&bpfexBudgetExpired));
  lua_setfield(L, -2, "budget_fn");
  lua_pushlightuserdata(L, &r->call_depth_);
  lua_setfield(L, -2, "call_depth");
  lua_pushnumber(L, r->limits_.max_call_depth);
  lua_setfield(L, -2, "max_call_depth");
  lua_pushlightuserdata(L, const_cast<uint32_t*>(&r->abort_flag_));
  if (lua_pcall(L, 2, 3, handler) != 0) return Error::msg(std::string("prelude: ") + lua_tostring(L, -1));
  r->on_run_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);  // pops on_run
  // Stack: handler, env, chk.

  // The rule: instrumented text, compiled with the budget check bound as a
  // local of the chunk (`...`), so the rule cannot replace it.
  const std::string chunk = "local " + std::string(kBudgetCheck) + " = ...; " + instrumented.value();
  // From here on the rule's own text runs (the parser included): under its
  // memory cap, and its top level under the time budget, exactly like a tick.
  r->mem_limited_ = true;
  if (int rc = luaL_loadbuffer(L, chunk.data(), chunk.size(), ("@" + name).c_str()); rc != 0) {
    const char* m = lua_tostring(L, -1);
    return Error(rc == LUA_ERRMEM ? ENOMEM : 0, rc == LUA_ERRMEM ? name + ": not enough memory (the rule's cap) to compile it"
                                                                 : r->fullChunkNames(m ? m : "syntax error"));
  }
  lua_pushvalue(L, -3);  // env
  lua_setfenv(L, -2);
  lua_pushvalue(L, -2);  // chk, as the chunk's `...`
  r->abort_flag_ = 0;
  r->call_depth_ = 0;
  auto armed = Watchdog::shared().arm(*r, limits.time_budget_seconds);
  const int rc = lua_pcall(L, 1, 0, handler);
  // A top level that outlived its budget is refused even if it caught every
  // budget error and returned: it would do the same at every reload.
  if (rc != 0 || armed.fired()) {
    std::string msg = rc == 0 ? "time budget exceeded" : lua_tostring(L, -1) ? lua_tostring(L, -1) : "error";
    if (const size_t tb = msg.find("\nstack traceback:"); tb != std::string::npos) msg.resize(tb);
    msg = r->fullChunkNames(std::move(msg));
    if (rc == LUA_ERRMEM) return Error(ENOMEM, name + ": not enough memory: its top level reached the rule's cap of " +
                                                    std::to_string(limits.memory_bytes) + " bytes");
    if (armed.fired() || r->abort_flag_ != 0)
      return Error(ETIME, name + ": its top level ran past the time budget of " +
                              base::formatSeconds(limits.time_budget_seconds) + " (" + msg + ")");
    // Errors raised inside the trusted library carry its position, not the
    // rule's: the file is named all the same.
    if (msg.rfind(name, 0) != 0) msg = name + ": " + msg;
    return Error(r->limit_hit_ ? E2BIG : 0, msg);
  }
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->tick_fns_ref_);
  const size_t fns = lua_objlen(L, -1);
  lua_pop(L, 1);
  if (fns == 0 && r->decls_.empty() && r->alert_decls_.empty())
    return Error::msg(name + ": the rule declares no metrics and no on_tick function");
  return r;
}

std::string Rule::fullChunkNames(std::string msg) const {
  // LuaJIT shortens a long "@file" chunk name to "..." and its last
  // LUA_IDSIZE - 4 bytes in messages and tracebacks; operators need the
  // whole path.
  constexpr size_t kIdSize = 60;  // LUA_IDSIZE in LuaJIT 2.1
  if (name_.size() <= kIdSize - 1) return msg;
  const std::string shortened = "..." + name_.substr(name_.size() - (kIdSize - 4));
  for (size_t at = msg.find(shortened); at != std::string::npos; at = msg.find(shortened, at + name_.size()))
    msg.replace(at, shortened.size(), name_);
  return msg;
}

Rule::~Rule() {
  if (L_ != nullptr) lua_close(L_);
  delete impl_;
}

Status Rule::bind(metrics::Registry& registry) {
  registry_ = &registry;
  families_.clear();
  for (const auto& d : decls_) {
    auto f = registry.family(d);
    if (!f) return std::move(f).error().context("rule " + name_);
    families_.push_back(f.value());
  }
  return base::okStatus();
}

void Rule::abort() {
  abort_flag_ = 1;
  // The count hook covers interpreted code and C boundaries; the injected
  // check covers compiled traces. lua_sethook is safe to call from another
  // thread (LuaJIT documents it for signal handlers).
  lua_sethook(L_, &Impl::abortHook, LUA_MASKCOUNT, 1000);
}

RunResult Rule::run(const TickContext& ctx) {
  RunResult res;
  lua_State* L = L_;
  ctx_ = &ctx;
  in_tick_ = true;
  abort_flag_ = 0;
  metric_errors_ = 0;
  call_depth_ = 0;
  fired_.clear();
  lua_sethook(L, nullptr, 0, 0);
  lua_settop(L, 0);
  // Views handed out by earlier runs point at freed buffers: a new generation.
  lua_rawgeti(L, LUA_REGISTRYINDEX, on_run_ref_);
  lua_call(L, 0, 0);
  auto armed = Watchdog::shared().arm(*this, limits_.time_budget_seconds);
  // Declarative exports first (no Lua per entry): the tick functions see
  // their series as any rule's writes, and may add to them.
  for (MapExport& e : exports_) {
    metrics::Family* f = e.decl().decl < families_.size() ? families_[e.decl().decl] : nullptr;
    if (f == nullptr || ctx.data == nullptr) continue;
    auto v = ctx.data->mapView(e.decl().map);
    base::Status st = v ? e.write(v.value(), *f, &metric_errors_, &last_metric_error_)
                        : base::Status(base::Error(v.error().code(), e.decl().where + ": " + v.error().message()));
    if (!st) {
      res.kind = ErrorKind::kRuntime;
      res.message = st.error().message();
      break;
    }
  }
  lua_pushcfunction(L, traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, tick_fns_ref_);
  const int n = res.kind == ErrorKind::kNone ? static_cast<int>(lua_objlen(L, 2)) : 0;
  for (int i = 1; i <= n; ++i) {
    lua_rawgeti(L, 2, i);
    lua_newtable(L);
    lua_pushnumber(L, static_cast<double>(ctx.tick));
    lua_setfield(L, -2, "tick");
    lua_pushnumber(L, ctx.now_unix);
    lua_setfield(L, -2, "now");
    const int rc = lua_pcall(L, 1, 0, 1);
    if (rc == 0 && armed.fired()) {
      // It caught every budget error and returned: still over budget.
      res.kind = ErrorKind::kTimeout;
      res.message = name_ + ": ran past the time budget of " + base::formatSeconds(limits_.time_budget_seconds) +
                    " (and caught the budget errors)";
      break;
    }
    if (rc != 0) {
      const char* m = lua_tostring(L, -1);
      res.message = fullChunkNames(m ? m : "error");
      if (rc == LUA_ERRMEM || res.message.find("not enough memory") != std::string::npos) res.kind = ErrorKind::kMemory;
      else if (armed.fired() || abort_flag_ != 0 || res.message.find("time budget exceeded") != std::string::npos)
        res.kind = ErrorKind::kTimeout;
      else res.kind = ErrorKind::kRuntime;
      break;
    }
  }
  lua_sethook(L, nullptr, 0, 0);
  abort_flag_ = 0;
  in_tick_ = false;
  if (log_suppressed_ > 0) BPFEX_LOG_WARN("rule {}: {} more log lines this run were suppressed", name_, log_suppressed_);
  log_lines_ = 0;
  log_suppressed_ = 0;
  ctx_ = nullptr;
  lua_settop(L, 0);
  if (res.kind == ErrorKind::kMemory || mem_used_ > limits_.memory_bytes / 2) lua_gc(L, LUA_GCCOLLECT, 0);
  res.metric_errors = metric_errors_;
  if (res.kind == ErrorKind::kNone && metric_errors_ > 0) {
    res.kind = ErrorKind::kMetric;
    res.message = last_metric_error_ + (metric_errors_ > 1 ? " (and " + std::to_string(metric_errors_ - 1) + " more)" : "");
  }
  return res;
}

}  // namespace bpfex::lua
