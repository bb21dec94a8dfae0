// bpf.events(name, "struct decl") -> the events a ring or perf buffer
// delivered since the last tick, decoded by the declaration the rule gives
// (the prelude iterates them through api.events_view and api.event_field).
#include <map>
#include <string>
#include <unordered_map>

#include "lua/binding.h"
#include "lua/bpf_values.h"

namespace bpfex::lua {
namespace {

struct EventCache {
  const bpf::EventReader* reader = nullptr;
  uint64_t tick = UINT64_MAX;
  std::map<std::string, bpf::Layout> layouts;  // by the declaration's text
};
using EventCaches = std::unordered_map<std::string, EventCache>;

EventCache& eventCache(lua_State* L, const std::string& name) {
  RuleCore* r = core(L);
  if (!r->in_tick || r->ctx == nullptr || r->ctx->data == nullptr)
    luaL_error(L, "bpf events %s: read in on_tick functions", name.c_str());
  EventCache& c = domainState<EventCaches>(L)[name];
  if (c.tick != r->ctx->tick) {
    auto ev = r->ctx->data->events(name);
    if (!ev) luaL_error(L, "%s", ev.error().message().c_str());
    c.reader = ev.value();
    c.tick = r->ctx->tick;
  }
  return c;
}

// api.events_view(name, decl) -> count, {field name = index}
int eventsView(lua_State* L) {
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

// api.event_field(name, event index, field index) -> the value
int eventField(lua_State* L) {
  const std::string name = luaL_checkstring(L, 1);
  const size_t i = checkWhole(L, 2, "event index");
  const size_t fi = checkWhole(L, 3, "event field");
  EventCache& c = eventCache(L, name);
  if (c.layouts.empty() || i >= c.reader->count()) return luaL_error(L, "event index out of range");
  const bpf::Layout& l = c.layouts.begin()->second;
  if (fi >= l.fields().size()) return luaL_error(L, "event field out of range");
  const bpf::Field& f = l.fields()[fi];
  if (f.offset + f.size * f.count > c.reader->size(i))
    return luaL_error(L, "event %d is shorter than its layout", static_cast<int>(i));
  if (f.kind == bpf::FieldKind::kString) {
    const auto s = bpf::readString(f, c.reader->event(i));
    lua_pushlstring(L, s.data(), s.size());
  } else {
    pushField(L, f, c.reader->event(i), 0);
  }
  return 1;
}

}  // namespace

void openBpfEventsApi(Binder& b) {
  auto* events = b.ownState<EventCaches>();
  b.functions(nullptr, {{"events_view", &guarded<&eventsView>}, {"event_field", &guarded<&eventField>}}, events);
}

}  // namespace bpfex::lua
