// alert{name=, ["for"]=, keep_firing_for=, labels={}, annotations={}} ->
// handle, declared at the top level; a:fire(labels [, value]) and
// a:fire_each(samples) in tick functions. The engine's alert set
// (engine/alert_set.h) turns what fired into ALERTS and notifications.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "lua/binding.h"
#include "metrics/text_format.h"

namespace bpfex::lua {
namespace {

constexpr const char* kAlertMeta = "bpfex.alert";

struct AlertHandle {
  size_t decl = 0;
};

int declAlert(lua_State* L) {
  RuleCore* r = core(L);
  r->requireTopLevel(L, "alerts");
  r->checkDeclarationCap(L, r->alert_decls.size(), "alerts");
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
  d.line = RuleCore::callerLine(L, 1);
  for (const auto* list : {&d.labels, &d.annotations})
    for (const auto& [k, text] : *list) {
      d.text_bytes += k.size() + text.size();
      for (size_t at = text.find("{{"); at != std::string::npos; at = text.find("{{", at + 2)) ++d.text_actions;
    }
  for (const auto& a : r->alert_decls)
    if (a.name == d.name) return luaL_error(L, "alert %s is declared twice in this rule", d.name.c_str());
  r->alert_decls.push_back(std::move(d));
  auto* h = static_cast<AlertHandle*>(lua_newuserdata(L, sizeof(AlertHandle)));
  h->decl = r->alert_decls.size() - 1;
  luaL_getmetatable(L, kAlertMeta);
  lua_setmetatable(L, -2);
  return 1;
}

// Copies of a firing's labels the daemon keeps (the run's list, the alert
// set, ALERTS and ALERTS_FOR_STATE, the status documents), and what a label
// costs beside its text.
constexpr size_t kFiringCopies = 5;
constexpr size_t kLabelOverhead = 64;

// Charges what this firing will take in C++ to the rule's memory cap, before
// it is kept: 100k firings sharing one 8 KiB label, or an annotation that
// repeats a 64 KiB label 20,000 times, are over the cap here, in the rule,
// not gigabytes later in the alert set.
void chargeFiring(lua_State* L, RuleCore* r, const AlertFiring& f) {
  const AlertDecl& d = r->alert_decls[f.decl];
  size_t labels = 0, longest = 32;  // a value's text ($value, humanized) is short
  for (const auto& [k, v] : f.labels) {
    labels += k.size() + v.size() + kLabelOverhead;
    longest = std::max(longest, v.size());
  }
  const size_t bytes = kFiringCopies * labels + 2 * (d.text_bytes + d.text_actions * longest);
  if (r->mem_limited && bytes > r->roomLeft())
    luaL_error(L, "not enough memory: alert %s: what this run fired passed the rule's memory cap (rule_limits.memory)",
               d.name.c_str());
  r->fired_bytes += bytes;
  if (r->abort_flag != 0) throw std::runtime_error("time budget exceeded");
}

RuleCore* firing(lua_State* L) {
  RuleCore* r = core(L);
  if (!r->in_tick) luaL_error(L, "alerts fire from on_tick functions");
  return r;
}

// a:fire(labels_by_name [, value]): this instance's condition holds now.
int alertFire(lua_State* L) {
  auto* h = static_cast<AlertHandle*>(luaL_checkudata(L, 1, kAlertMeta));
  RuleCore* r = firing(L);
  AlertFiring f;
  f.decl = h->decl;
  f.labels = stringMap(L, 2, "alert labels");
  f.value = luaL_optnumber(L, 3, 1);
  chargeFiring(L, r, f);
  r->fired.push_back(std::move(f));
  return 0;
}

// a:fire_each(v): every sample of a vector ({labels = {...}, value = x} each,
// as vec.* returns them) fires with its labels and value: what a Prometheus
// alerting rule does with its expression's result.
int alertFireEach(lua_State* L) {
  auto* h = static_cast<AlertHandle*>(luaL_checkudata(L, 1, kAlertMeta));
  RuleCore* r = firing(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  const size_t n = lua_objlen(L, 2);
  for (size_t i = 1; i <= n; ++i) {
    lua_rawgeti(L, 2, static_cast<int>(i));
    if (!lua_istable(L, -1))
      return luaL_error(L, "alert:fire_each: sample %d is not {labels = ..., value = ...}", static_cast<int>(i));
    const int sample = lua_gettop(L);
    AlertFiring f;
    f.decl = h->decl;
    rawField(L, sample, "labels");
    f.labels = stringMap(L, lua_gettop(L), "alert labels");
    rawField(L, sample, "value");
    f.value = luaL_optnumber(L, -1, 1);
    chargeFiring(L, r, f);
    r->fired.push_back(std::move(f));
    lua_settop(L, sample - 1);
  }
  return 0;
}

}  // namespace

void openAlertApi(Binder& b) {
  b.handleType(kAlertMeta, {{"fire", &guarded<&alertFire>}, {"fire_each", &guarded<&alertFireEach>}});
  b.functions(nullptr, {{"alert", &guarded<&declAlert>}});
}

}  // namespace bpfex::lua
