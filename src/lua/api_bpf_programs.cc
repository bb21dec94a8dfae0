// bpf.programs() -> the loaded BPF programs bpfex knows, with their run
// statistics and attachments (lua/rule.h ProgramView).
#include "lua/binding.h"

namespace bpfex::lua {
namespace {

void pushString(lua_State* L, const char* field, const std::string& v) {
  lua_pushlstring(L, v.data(), v.size());
  lua_setfield(L, -2, field);
}
void pushNumber(lua_State* L, const char* field, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, field);
}

int bpfPrograms(lua_State* L) {
  RuleCore* r = core(L);
  r->requireTick(L, "bpf.programs");
  std::vector<ProgramView> progs;
  if (r->ctx->data != nullptr) progs = r->ctx->data->programs();
  lua_createtable(L, static_cast<int>(progs.size()), 0);
  int i = 0;
  for (const ProgramView& p : progs) {
    lua_createtable(L, 0, 8);
    pushString(L, "object", p.object);
    pushString(L, "name", p.name);
    pushString(L, "type", p.type);
    pushNumber(L, "id", p.id);
    lua_pushboolean(L, p.stats);
    lua_setfield(L, -2, "stats");
    pushNumber(L, "run_count", static_cast<double>(p.run_count));
    pushNumber(L, "run_time_ns", static_cast<double>(p.run_time_ns));
    lua_createtable(L, static_cast<int>(p.attached.size()), 0);
    int j = 0;
    for (const auto& a : p.attached) {
      lua_createtable(L, 0, 3);
      pushString(L, "type", a.type);
      pushString(L, "target", a.target);
      pushString(L, "netns", a.netns);
      lua_rawseti(L, -2, ++j);
    }
    lua_setfield(L, -2, "attached");
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

}  // namespace

void openBpfProgramsApi(Binder& b) { b.functions(nullptr, {{"bpf_programs", &guarded<&bpfPrograms>}}); }

}  // namespace bpfex::lua
