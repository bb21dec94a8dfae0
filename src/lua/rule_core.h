// RuleCore: what one rule's Lua state and its bindings share (internal to
// src/lua). Rule (rule.h) is its public face; the bindings (api_*.cc) reach
// it as the first upvalue of every function they register (binding.h).
//
// It owns the state's allocator and memory cap, the C-stack call depth, the
// time budget's abort flag, and the rule's declarations and per-run results.
// Each binding domain keeps its own caches itself (Binder::ownState).
//
// Thread safety: engine thread only; abort_flag is also written by the
// watchdog (Rule::abort).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lua/map_export.h"
#include "lua/pattern.h"
#include "lua/rule.h"
#include "metrics/registry.h"

struct lua_State;
struct lua_Debug;

namespace bpfex::lua {

struct RuleCore {
  std::string name;  // the rule file, as errors name it
  RuleLimits limits;
  lua_State* L = nullptr;

  // Memory: the Lua heap (allocate) plus what windows hold in C++, plus what
  // this run's firings will take in C++ (fired_bytes: their labels, copied
  // into the alert set, ALERTS and the status documents, and their
  // templates' expansions), reset by every run.
  size_t mem_used = 0;
  bool mem_limited = false;  // the allocator refuses past the cap while set (after setup)
  size_t window_bytes = 0;
  size_t fired_bytes = 0;
  // Time: set by the watchdog, read by instrumented code (bpfexBudgetExpired).
  volatile uint32_t abort_flag = 0;
  // Calls nested on the C stack (RuleLimits::max_call_depth); read and written
  // by the bindings and by the prelude through FFI. Reset by every run.
  uint32_t call_depth = 0;

  // What the top level declared.
  std::vector<metrics::FamilyOptions> decls;
  std::vector<int> decl_lines;
  std::vector<RangeDecl> ranges;
  std::vector<AlertDecl> alert_decls;
  std::vector<MapExport> exports;  // bpf.export, run before the tick functions
  int tick_fns_ref = -1;           // registry ref of the on_tick function list
  double interval = 0;
  bool limit_hit = false;  // a declaration cap refused the top level

  // Bound (Rule::bind) and per run (Rule::run).
  std::vector<metrics::Family*> families;
  const metrics::Registry* registry = nullptr;  // what series() and range() read
  const TickContext* ctx = nullptr;
  bool in_tick = false;
  size_t metric_errors = 0;
  std::string last_metric_error;
  std::vector<AlertFiring> fired;
  std::string job_failure;
  uint32_t log_lines = 0;  // log() lines this run, and those refused past the cap
  uint64_t log_suppressed = 0;
  pattern::Limits pattern_limits;  // string patterns' (gmatch iterators keep its address)

  // The lua_Alloc of the rule's state (ud: the RuleCore).
  static void* allocate(void* ud, void* ptr, size_t osize, size_t nsize);
  // The bytes the rule may still allocate (SIZE_MAX before the cap is armed).
  size_t roomLeft() const;

  bool enterCall() {
    if (call_depth >= limits.max_call_depth) return false;
    ++call_depth;
    return true;
  }
  void leaveCall() {
    if (call_depth > 0) --call_depth;
  }

  // `msg` with LuaJIT's shortened chunk name ("...tail/of/file.lua") made whole.
  std::string fullChunkNames(std::string msg) const;
  // "file:line" of the Lua function `level` frames up (the rule's call),
  // or the rule's name when Lua does not know it.
  std::string where(lua_State* L, int level) const;
  // The line `level` frames up, 0 when unknown.
  static int callerLine(lua_State* L, int level);
  // Raises a Lua error unless a tick (or job) is running: `what` says what needs it.
  void requireTick(lua_State* L, const char* what) const;
  // Raises a Lua error when the top level has ended (declarations).
  void requireTopLevel(lua_State* L, const char* what) const;
  // Counts a declaration of `kind` against max_families, raising past it.
  void checkDeclarationCap(lua_State* L, size_t have, const char* kind);
};

// Protected calls into the rule: the message handler that appends a traceback.
int traceback(lua_State* L);
// The count hook Rule::abort sets: raises "time budget exceeded".
void abortHook(lua_State* L, lua_Debug* ar);
// Called from compiled rule code through an FFI function pointer (prelude.lua).
extern "C" int bpfexBudgetExpired(const uint32_t* flag);

}  // namespace bpfex::lua
