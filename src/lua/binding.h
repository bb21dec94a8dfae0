// How the Lua API is bound (internal to src/lua): one file per part of the
// API (api_*.cc), each with an open function that registers its functions
// and handle types through a Binder.
//
// Every registered function is a closure with two upvalues: the RuleCore,
// and the domain's own state (or null). Every function goes through
// guarded<>: no C++ exception crosses into Lua, and the rule's C-stack
// depth is counted. Handles given to rules are userdata with one metatable
// per type (methods in __index, __metatable hidden, __gc where they own C++
// state); they index the rule's own declarations, which live as long as the
// Lua state itself, so no handle outlives what it names.
#pragma once

#include <lua.hpp>

#include <cmath>
#include <initializer_list>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "lua/rule_core.h"

namespace bpfex::lua {

inline RuleCore* core(lua_State* L) { return static_cast<RuleCore*>(lua_touserdata(L, lua_upvalueindex(1))); }
// The state the domain registered the function with (Binder::ownState).
template <class S>
S& domainState(lua_State* L) {
  return *static_cast<S*>(lua_touserdata(L, lua_upvalueindex(2)));
}

// Every lua_CFunction goes through this: no C++ exception ever crosses into
// Lua (GUIDE.md §3.2); it becomes a Lua error with the message. Only
// std::exception is caught: LuaJIT raises its own errors (luaL_error) by
// unwinding as a foreign exception on x86-64, which must pass through.
//
// It also counts the call against the rule's C-stack depth: a binding can be
// reached from a coroutine or a sort callback nested deep. The counter is
// restored by the guard's destructor, which runs when a Lua error unwinds.
template <int (*F)(lua_State*)>
int guarded(lua_State* L) {
  std::string err;
  {
    RuleCore* rule = core(L);
    if (!rule->enterCall()) {
      err = "calls nested too deeply (" + std::to_string(rule->call_depth) +
            " levels through coroutines, callbacks and bpfex functions)";
    } else {
      struct Leave {
        RuleCore* r;
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

using Function = std::pair<const char*, lua_CFunction>;

class Binder {
 public:
  // `api` is the stack index of the table handed to the prelude.
  Binder(lua_State* L, RuleCore* core, int api) : L_(L), core_(core), api_(api) {}

  lua_State* state() const { return L_; }
  RuleCore* rule() const { return core_; }

  // api.<fn> for each, or api.<table>.<fn> when `table` is given.
  void functions(const char* table, std::initializer_list<Function> fns, void* state = nullptr);
  // A handle type: its methods in __index, __metatable hidden, and `gc` as
  // __gc (not guarded: a finalizer must not fail).
  void handleType(const char* meta, std::initializer_list<Function> methods, lua_CFunction gc = nullptr,
                  void* state = nullptr);
  // api.<name> = the value on top of the stack (popped).
  void setField(const char* name);
  // A domain's state, constructed in a userdata the Lua state keeps and
  // destroys when it closes: the domain owns it, not the rule.
  template <class S>
  S* ownState() {
    void* mem = lua_newuserdata(L_, sizeof(S));
    S* s = new (mem) S();
    lua_newtable(L_);
    lua_pushcfunction(L_, [](lua_State* S_) {
      static_cast<S*>(lua_touserdata(S_, 1))->~S();
      return 0;
    });
    lua_setfield(L_, -2, "__gc");
    lua_setmetatable(L_, -2);
    luaL_ref(L_, LUA_REGISTRYINDEX);
    return s;
  }

 private:
  void pushClosures(std::initializer_list<Function> fns, void* state);

  lua_State* L_;
  RuleCore* core_;
  int api_;
};

// One open function per part of the API (api_<part>.cc).
void openMetricApi(Binder& b);      // metric.counter/gauge/histogram/summary/info; handle methods
void openAlertApi(Binder& b);       // alert{...}; a:fire, a:fire_each
void openRuleApi(Binder& b);        // on_tick, interval, log
void openBpfMapApi(Binder& b);      // bpf.map, views, lookup, layout, info, bpf.export
void openBpfEventsApi(Binder& b);   // bpf.events
void openBpfProgramsApi(Binder& b); // bpf.programs
void openWindowApi(Binder& b);      // window(d); w:rate/increase/...
void openSeriesApi(Binder& b);      // series(name), range(name, d)
void openHostApi(Binder& b);        // host.*
void openBpfexApi(Binder& b);       // bpfex.*: the daemon's own facts
void openStateApi(Binder& b);       // state.read/write
void openTextApi(Binder& b);        // re.match, string patterns, json.decode
void openJobApi(Binder& b);         // http.get, fs.read/walk, job.failed: push jobs only

// ---- argument helpers shared by the bindings (binding.cc) ------------------

// A whole number in [0, max] (indexes, counts, ifindexes): rule numbers can
// be NaN, negative or 1e300, and casting those to an integer is undefined.
inline bool wholeNumber(double d, double max) { return d >= 0 && d <= max && d == std::floor(d); }
size_t checkWhole(lua_State* L, int idx, const char* what, double max = 9007199254740992.0);
// t[name] without metamethods: bindings never run rule code from C (a
// table's __index would nest the C stack and run under the binding's frame).
void rawField(lua_State* L, int idx, const char* name);
// The array part of a table of strings / numbers (nil: empty).
std::vector<std::string> stringList(lua_State* L, int idx, const char* what);
std::vector<double> numberList(lua_State* L, int idx, const char* what);
// {name = value}: values strings, numbers or booleans, sorted by name.
std::vector<std::pair<std::string, std::string>> stringMap(lua_State* L, int idx, const char* what);
// A duration: seconds as a number, or text base::parseDuration takes
// ("250ms", "5m", "1d"); nil is 0.
double durationArg(lua_State* L, int idx, const char* what);
// The Lua convention for an expected failure: nil and why.
int nilAnd(lua_State* L, const std::string& why);

// ---- handles shared between domains ------------------------------------------

inline constexpr const char* kMetricMeta = "bpfex.metric";
inline constexpr const char* kMapMeta = "bpfex.map";

// metric.*(...): the index of its declaration.
struct MetricHandle {
  size_t decl = 0;
};

// bpf.map(name): the name, inline (no C++ state, nothing to finalize).
struct MapHandle {
  uint32_t len;
  char name[1];
};

}  // namespace bpfex::lua
