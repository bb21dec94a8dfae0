// state.read(name), state.write(name, table): small JSON documents a rule
// keeps across restarts, in the daemon's state directory (config state_dir).
#include <string>

#include "base/file.h"
#include "base/json_text.h"
#include "lua/binding.h"
#include "lua/json_value.h"

namespace bpfex::lua {
namespace {

std::string statePath(lua_State* L, const char* fn) {
  RuleCore* r = core(L);
  const std::string name = luaL_checkstring(L, 1);
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
    luaL_error(L, "%s: name must be 1-64 letters, digits, _ or -", fn);
  // The daemon keeps its own files in the same directory (alert for-state,
  // the start count): a rule may neither read nor overwrite them.
  if (name == "alerts_for_state" || name.rfind("bpfex", 0) == 0)
    luaL_error(L, "%s: \"%s\" is reserved for bpfex's own state", fn, name.c_str());
  if (r->ctx == nullptr || r->ctx->state_dir.empty()) return {};
  return r->ctx->state_dir + "/" + name + ".json";
}

// state.read(name) -> the table state.write stored, or nil and why.
int stateRead(lua_State* L) {
  const std::string path = statePath(L, "state.read");
  if (path.empty()) return nilAnd(L, "no state directory (config state_dir)");
  auto text = base::readFile(path, 1u << 20);
  if (!text) return nilAnd(L, text.error().message());
  auto j = nlohmann::json::parse(text.value(), nullptr, false);
  if (j.is_discarded()) return nilAnd(L, path + ": not valid JSON");
  pushJson(L, j);
  return 1;
}

// state.write(name, table) -> true, or nil and why. Atomic (temp + rename).
int stateWrite(lua_State* L) {
  const std::string path = statePath(L, "state.write");
  luaL_checktype(L, 2, LUA_TTABLE);
  JsonLimits limits{.max_bytes = 1u << 20, .abort = &core(L)->abort_flag};
  const std::string text = base::jsonText(toJson(L, 2, "state.write", limits));
  if (text.size() > (1u << 20)) return luaL_error(L, "state.write: over 1 MiB");
  if (path.empty()) return nilAnd(L, "no state directory (config state_dir)");
  if (auto st = base::writeFileAtomic(path, text); !st) return nilAnd(L, st.error().message());
  lua_pushboolean(L, 1);
  return 1;
}

}  // namespace

void openStateApi(Binder& b) {
  b.functions("state", {{"read", &guarded<&stateRead>}, {"write", &guarded<&stateWrite>}});
}

}  // namespace bpfex::lua
