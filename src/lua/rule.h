// Rule: one operator rule file, in its own LuaJIT state.
//
// Isolation: every rule has its own lua_State, so its memory cap, its globals
// and its failures are its own. Its environment is built by allow-list (no io,
// os.execute, ffi, debug, load/loadstring/dofile, require); the trusted
// standard library (lua/*.lua, embedded) runs first with ffi and hands the
// rule only closures. Source is loaded as text, instrumented for the time
// budget (instrument.h).
//
// Layout: rule_core.h holds the state the Lua bindings share (allocator, cap,
// call depth, declarations); binding.h registers the API, one file per part
// (api_metric.cc, api_bpf_map.cc, ...); this class is the lifecycle.
//
// Lifecycle: load() compiles the file and runs its top level, which declares
// metrics (metric.counter(...)) and tick functions (on_tick(fn)); nothing is
// registered yet. bind() registers the declarations; run() calls the tick
// functions. A rule that errs, times out or exceeds its memory is reported
// and the engine keeps its previous series.
//
// Thread safety: engine thread only, except abort(), which the watchdog calls.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <map>
#include <utility>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "bpf/event_reader.h"
#include "bpf/layout.h"
#include "bpf/map.h"
#include "metrics/registry.h"

struct lua_State;

namespace bpfex::lua {

class SeriesHistory;

// A map's entries at this tick, per-CPU values already summed.
struct MapView {
  const uint8_t* keys = nullptr;
  const uint8_t* values = nullptr;
  size_t count = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  const bpf::Layout* key_layout = nullptr;
  const bpf::Layout* value_layout = nullptr;
  const bpf::MapInfo* info = nullptr;
  // Non-empty: the map is configured but not there now (its object did not
  // load, its pin is gone, its owner has not created it yet). The view is
  // empty: what a rule computes from it stops (its series go stale), and the
  // rest of the run goes on. This says why (logged and counted by the source).
  std::string unavailable;
};

// A loaded BPF program, for bpf.programs().
struct ProgramView {
  std::string object, name, type;
  uint32_t id = 0;
  bool stats = false;  // run_count/run_time_ns are counted (bpf.stats or the sysctl)
  uint64_t run_count = 0, run_time_ns = 0;
  struct Attachment {
    std::string type, target, netns;
  };
  std::vector<Attachment> attached;
};

// What rules read; the engine implements it over the BPF runtime. Each map is
// read at most once per tick however many rules ask.
class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual base::Result<MapView> mapView(const std::string& name) = 0;
  virtual base::Result<const bpf::EventReader*> events(const std::string& name) = 0;
  virtual std::vector<ProgramView> programs() { return {}; }
  // Enum `enum_name` of the map's BTF (its object's), by value: how rules
  // read the names and order of an ABI's enums (bpf.enum) instead of
  // copying them.
  virtual base::Result<bpf::EnumValues> enumByName(const std::string& map, const std::string& enum_name) {
    return base::Error(ENOENT, "bpf map " + map + ": no BTF to read enum " + enum_name + " from");
  }
  // A new tick begins: reads are fresh from here on.
  virtual void beginTick(uint64_t /*tick*/) {}
};

// What a push job may use beyond the rule API (bpfex push JOB.lua).
class JobHost {
 public:
  virtual ~JobHost() = default;
  // GET url; the status and body, or an error naming the URL.
  virtual base::Result<std::pair<long, std::string>> httpGet(const std::string& url, double timeout_seconds) = 0;
  // Reads a file (at most max_bytes); errors name the path.
  virtual base::Result<std::string> readFile(const std::string& path, size_t max_bytes) = 0;
  // Regular files under dir, recursively (skipping .git and node_modules), at most `limit`.
  virtual base::Result<std::vector<std::string>> walk(const std::string& dir, size_t limit) = 0;
};

// What one rule may use. The same limits hold for every entry into its code:
// the top level at load (declarations included), tick functions and jobs.
struct RuleLimits {
  double time_budget_seconds = 1.25;
  size_t memory_bytes = 64u << 20;
  // Families (metrics) one rule may declare; the engine caps the total.
  size_t max_families = 1000;
  // Nesting of calls that recurse on the C stack: coroutine resumes,
  // callbacks from table.sort and string.gsub, bpfex's own bindings. Past it
  // a call fails with an ordinary rule error instead of overflowing the
  // engine thread's stack.
  unsigned max_call_depth = 64;
};

struct TickContext {
  uint64_t tick = 0;
  double now_unix = 0;
  double now_mono = 0;
  DataSource* data = nullptr;
  // Tick-resolution history of the series rules select with range() (null:
  // ranges see only the current tick).
  const SeriesHistory* history = nullptr;
  JobHost* job = nullptr;  // set only for push jobs
  // The daemon's state directory (state.read/state.write; empty: none) and
  // how often bpfex started before with it (bpfex.restarts()).
  std::string state_dir;
  uint64_t restarts = 0;
};

enum class ErrorKind : uint8_t { kNone, kCompile, kRuntime, kTimeout, kMemory, kMetric, kLimit };
std::string_view errorKindName(ErrorKind k);
// The kind of a Rule::load failure: kTimeout and kMemory for a top level
// over its budget or cap, kLimit for too many declarations, else kCompile.
ErrorKind loadErrorKind(const base::Error& e);

struct RunResult {
  ErrorKind kind = ErrorKind::kNone;
  std::string message;
  size_t metric_errors = 0;  // rejected writes (the rule itself went on)
};

// An alert a rule declares: alert{name=..., ["for"]="2m", keep_firing_for=,
// labels={...}, annotations={...}}. Templates are checked by the engine.
struct AlertDecl {
  std::string name;
  double for_seconds = 0;
  double keep_firing_for_seconds = 0;
  std::vector<std::pair<std::string, std::string>> labels, annotations;
  int line = 0;  // where the rule declares it
  // The templates' size and their actions ("{{"), for the bytes a firing's
  // expansion can take: at most text_bytes + text_actions * the longest value.
  size_t text_bytes = 0, text_actions = 0;
};

// One a:fire(labels, value) of this run: the instance is active now.
struct AlertFiring {
  size_t decl = 0;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

// A range selector a rule declared with range(): metric name and range (ms).
struct RangeDecl {
  std::string metric;
  int64_t range_ms;
  int line;  // where range() was called (0: unknown)
};

// What a file is: a daemon rule, or a push job (bpfex push JOB.lua), whose
// environment also has http, fs and job. A rule's has none of them.
enum class RuleKind : uint8_t { kRule, kJob };

struct RuleCore;

class Rule {
 public:
  // `name` is how metrics and errors name the rule (the file name).
  // `params` become the rule's read-only `params` table (config rule_params).
  static base::Result<std::unique_ptr<Rule>> load(const std::string& name, const std::string& source,
                                                  const RuleLimits& limits,
                                                  const std::map<std::string, std::string>& params = {},
                                                  RuleKind kind = RuleKind::kRule);
  ~Rule();
  Rule(const Rule&) = delete;
  Rule& operator=(const Rule&) = delete;

  const std::string& name() const;
  const std::vector<metrics::FamilyOptions>& declarations() const;
  // The line of each declaration (same order; 0 when unknown).
  int declarationLine(size_t i) const;
  const std::vector<metrics::Family*>& families() const;
  const std::vector<AlertDecl>& alerts() const;
  // The instances the last run fired (cleared when a run starts).
  const std::vector<AlertFiring>& fired() const;
  double intervalSeconds() const;
  using RangeDecl = lua::RangeDecl;
  const std::vector<RangeDecl>& ranges() const;

  // Registers the declared families. The caller validated them first.
  base::Status bind(metrics::Registry& registry);
  RunResult run(const TickContext& ctx);

  // Thread-safe: asks the running tick function to stop (time budget).
  void abort();
  // The Lua heap plus what the rule's windows hold (both count against the cap).
  size_t memoryBytes() const;
  const std::string& lastMetricError() const;
  // Push jobs: the reason given to job.failed(), empty if none.
  const std::string& jobFailure() const;

 private:
  explicit Rule(std::unique_ptr<RuleCore> core);
  // The bpf.export declarations (before the tick functions); false on an error.
  bool runExports(const TickContext& ctx, RunResult& res);
  // The prelude, then the rule's top level; the error names the file.
  base::Status runTopLevel(const std::string& source, const std::map<std::string, std::string>& params, RuleKind kind);

  std::unique_ptr<RuleCore> core_;
  // The prelude's on_run: bumps the generation that map entry views and
  // iterators check (those from an earlier run refuse to read).
  int on_run_ref_ = -1;
};

}  // namespace bpfex::lua
