// Push jobs only (bpfex push JOB.lua; Rule::load with RuleKind::kJob):
// http.get(url [, timeout]), fs.read(path), fs.walk(dir), job.failed(why).
// A daemon rule's environment has none of them.
#include <string>

#include "lua/binding.h"

namespace bpfex::lua {
namespace {

JobHost* jobHost(lua_State* L, const char* what) {
  RuleCore* r = core(L);
  if (r->ctx == nullptr || r->ctx->job == nullptr) luaL_error(L, "%s: call it from the job's run function", what);
  return r->ctx->job;
}

// status, body = http.get(url [, timeout_seconds]); on failure: nil, why
int httpGet(lua_State* L) {
  const std::string url = luaL_checkstring(L, 1);
  const double timeout = luaL_optnumber(L, 2, 10);
  auto r = jobHost(L, "http.get")->httpGet(url, timeout);
  if (!r) return nilAnd(L, r.error().message());
  lua_pushnumber(L, static_cast<double>(r->first));
  lua_pushlstring(L, r->second.data(), r->second.size());
  return 2;
}

// fs.read(path) -> contents (at most 64 MiB), or nil, why
int fsRead(lua_State* L) {
  auto r = jobHost(L, "fs.read")->readFile(luaL_checkstring(L, 1), 64u << 20);
  if (!r) return nilAnd(L, r.error().message());
  lua_pushlstring(L, r->data(), r->size());
  return 1;
}

// fs.walk(dir) -> the file paths under dir (recursive), or nil, why
int fsWalk(lua_State* L) {
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
int jobFailed(lua_State* L) {
  (void)jobHost(L, "job.failed");
  core(L)->job_failure = luaL_optstring(L, 1, "job failed");
  return 0;
}

}  // namespace

void openJobApi(Binder& b) {
  b.functions("http", {{"get", &guarded<&httpGet>}});
  b.functions("fs", {{"read", &guarded<&fsRead>}, {"walk", &guarded<&fsWalk>}});
  b.functions(nullptr, {{"job_failed", &guarded<&jobFailed>}});
}

}  // namespace bpfex::lua
