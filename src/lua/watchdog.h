// Watchdog: enforces the rules' time budget wherever rule code runs.
//
// Every entry into a rule's Lua code (its top level at load, tick functions,
// jobs) is armed with a deadline; when it passes, the watchdog aborts the
// rule (Rule::abort: the abort flag that instrumented code checks, plus a
// count hook for interpreted code). One process-wide thread serves every
// caller (daemon, `bpfex check`, `bpfex test`, `bpfex push`), so no caller
// can forget to arm it: the budget is a property of the Lua core, not of the
// engine that happens to run the rule.
//
// abortAll() aborts whatever runs now and makes later arms expire at once;
// the daemon calls it on SIGTERM/SIGINT so shutdown never waits for a rule.
//
// Thread safety: every member is thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace bpfex::lua {

class Rule;

class Watchdog {
 public:
  // The process's watchdog (its thread starts on first use).
  static Watchdog& shared();

  // While the returned guard lives, `rule` is aborted once `seconds` pass.
  class Armed {
   public:
    Armed(Armed&& o) noexcept : wd_(o.wd_), id_(o.id_) { o.wd_ = nullptr; }
    Armed(const Armed&) = delete;
    Armed& operator=(const Armed&) = delete;
    Armed& operator=(Armed&&) = delete;
    ~Armed();
    // Whether the watchdog aborted the rule (its deadline passed).
    bool fired() const;

   private:
    friend class Watchdog;
    Armed(Watchdog* wd, uint64_t id) : wd_(wd), id_(id) {}
    Watchdog* wd_;
    uint64_t id_;
  };
  [[nodiscard]] Armed arm(Rule& rule, double seconds);

  // Aborts every armed rule now, and every rule armed from now on.
  void abortAll();
  bool stopping() const;

  ~Watchdog();

 private:
  Watchdog();
  void loop(std::stop_token st);
  void disarm(uint64_t id);
  bool fired(uint64_t id) const;

  struct Entry {
    uint64_t id;
    Rule* rule;
    int64_t deadline_ns;
    bool fired;
  };
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<Entry> armed_;
  uint64_t next_id_ = 1;
  uint64_t gen_ = 0;  // bumped when a deadline may have moved earlier
  bool stopping_ = false;
  std::jthread thread_;
};

}  // namespace bpfex::lua
