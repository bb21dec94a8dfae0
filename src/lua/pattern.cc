#include "lua/pattern.h"

#include <lua.hpp>

#include <cctype>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bpfex::lua::pattern {

namespace {

constexpr int kMaxCaptures = 32;     // LUA_MAXCAPTURES
constexpr int kMaxDepth = 200;       // matcher recursion, as LuaJIT's
constexpr int kUnfinished = -1;
constexpr int kPosition = -2;
constexpr uint32_t kPollEvery = 4096;
constexpr char kEscape = '%';
constexpr const char* kSpecials = "^$*+?.([%-";

struct Capture {
  const char* init;
  ptrdiff_t len;
};

struct Matcher {
  lua_State* L;
  const char* src_init;  // the subject
  const char* src_end;
  const char* p_end;  // end of the pattern
  const Limits& lim;
  int level = 0;
  int depth = 0;
  uint32_t steps = 0;
  Capture capture[kMaxCaptures];

  void step() {
    if (++steps % kPollEvery == 0 && lim.abort != nullptr && *lim.abort != 0)
      throw std::runtime_error("time budget exceeded");
  }

  int captureToClose() {
    for (int l = level - 1; l >= 0; --l)
      if (capture[l].len == kUnfinished) return l;
    luaL_error(L, "invalid pattern capture");
    return 0;
  }

  int checkCapture(int c) {
    const int l = c - '1';
    if (l < 0 || l >= level || capture[l].len == kUnfinished) luaL_error(L, "invalid capture index");
    return l;
  }

  const char* classEnd(const char* p) {
    switch (*p++) {
      case kEscape:
        if (p == p_end) luaL_error(L, "malformed pattern (ends with '%%')");
        return p + 1;
      case '[':
        if (*p == '^') ++p;
        do {  // look for a ']'; the first character may be one
          if (p == p_end) luaL_error(L, "malformed pattern (missing ']')");
          if (*(p++) == kEscape && p < p_end) ++p;
        } while (*p != ']');
        return p + 1;
      default:
        return p;
    }
  }

  static bool matchClass(int c, int cl) {
    bool res;
    switch (std::tolower(cl)) {
      case 'a': res = std::isalpha(c); break;
      case 'c': res = std::iscntrl(c); break;
      case 'd': res = std::isdigit(c); break;
      case 'g': res = std::isgraph(c); break;  // LuaJIT's extension (5.2's class)
      case 'l': res = std::islower(c); break;
      case 'p': res = std::ispunct(c); break;
      case 's': res = std::isspace(c); break;
      case 'u': res = std::isupper(c); break;
      case 'w': res = std::isalnum(c); break;
      case 'x': res = std::isxdigit(c); break;
      case 'z': res = c == 0; break;
      default: return cl == c;
    }
    return std::islower(cl) ? res : !res;
  }

  // p at '[', ec at the closing ']'.
  static bool matchBracket(int c, const char* p, const char* ec) {
    bool sig = true;
    if (*(p + 1) == '^') {
      sig = false;
      ++p;
    }
    while (++p < ec) {
      if (*p == kEscape) {
        ++p;
        if (matchClass(c, static_cast<unsigned char>(*p))) return sig;
      } else if (*(p + 1) == '-' && p + 2 < ec) {
        p += 2;
        if (static_cast<unsigned char>(*(p - 2)) <= c && c <= static_cast<unsigned char>(*p)) return sig;
      } else if (static_cast<unsigned char>(*p) == c) {
        return sig;
      }
    }
    return !sig;
  }

  static bool singleMatch(int c, const char* p, const char* ep) {
    switch (*p) {
      case '.': return true;
      case kEscape: return matchClass(c, static_cast<unsigned char>(*(p + 1)));
      case '[': return matchBracket(c, p, ep - 1);
      default: return static_cast<unsigned char>(*p) == c;
    }
  }

  const char* matchBalance(const char* s, const char* p) {
    if (p + 1 >= p_end) luaL_error(L, "missing arguments to '%%b'");
    if (s >= src_end || *s != *p) return nullptr;
    const char b = *p, e = *(p + 1);
    int cont = 1;
    while (++s < src_end) {
      step();
      if (*s == e) {
        if (--cont == 0) return s + 1;
      } else if (*s == b) {
        ++cont;
      }
    }
    return nullptr;
  }

  const char* maxExpand(const char* s, const char* p, const char* ep) {
    ptrdiff_t i = 0;
    while (s + i < src_end && singleMatch(static_cast<unsigned char>(s[i]), p, ep)) {
      step();
      ++i;
    }
    while (i >= 0) {  // try the longest first
      if (const char* res = doMatch(s + i, ep + 1)) return res;
      --i;
    }
    return nullptr;
  }

  const char* minExpand(const char* s, const char* p, const char* ep) {
    for (;;) {
      if (const char* res = doMatch(s, ep + 1)) return res;
      if (s < src_end && singleMatch(static_cast<unsigned char>(*s), p, ep)) ++s;
      else return nullptr;
    }
  }

  const char* startCapture(const char* s, const char* p, ptrdiff_t what) {
    if (level >= kMaxCaptures) luaL_error(L, "too many captures");
    capture[level].init = s;
    capture[level].len = what;
    ++level;
    const char* res = doMatch(s, p);
    if (res == nullptr) --level;
    return res;
  }

  const char* endCapture(const char* s, const char* p) {
    const int l = captureToClose();
    capture[l].len = s - capture[l].init;
    const char* res = doMatch(s, p);
    if (res == nullptr) capture[l].len = kUnfinished;
    return res;
  }

  const char* matchCapture(const char* s, int l) {
    l = checkCapture(l);
    const size_t len = static_cast<size_t>(capture[l].len);
    if (static_cast<size_t>(src_end - s) >= len && std::memcmp(capture[l].init, s, len) == 0) return s + len;
    return nullptr;
  }

  struct DepthGuard {
    Matcher& m;
    explicit DepthGuard(Matcher& mm) : m(mm) {
      if (++m.depth > kMaxDepth) luaL_error(m.L, "pattern too complex");
    }
    ~DepthGuard() { --m.depth; }
  };

  const char* doMatch(const char* s, const char* p) {
    DepthGuard guard(*this);
    for (;;) {
      step();
      if (p == p_end) return s;
      switch (*p) {
        case '(':
          if (*(p + 1) == ')') return startCapture(s, p + 2, kPosition);
          return startCapture(s, p + 1, kUnfinished);
        case ')':
          return endCapture(s, p + 1);
        case '$':
          if (p + 1 == p_end) return s == src_end ? s : nullptr;
          break;  // a '$' elsewhere is a literal
        case kEscape:
          if (p + 1 < p_end && *(p + 1) == 'b') {
            s = matchBalance(s, p + 2);
            if (s == nullptr) return nullptr;
            p += 4;
            continue;
          }
          if (p + 1 < p_end && *(p + 1) == 'f') {
            p += 2;
            if (p >= p_end || *p != '[') luaL_error(L, "missing '[' after '%%f' in pattern");
            const char* ep = classEnd(p);
            const int prev = s == src_init ? 0 : static_cast<unsigned char>(*(s - 1));
            const int cur = s < src_end ? static_cast<unsigned char>(*s) : 0;
            if (!matchBracket(prev, p, ep - 1) && matchBracket(cur, p, ep - 1)) {
              p = ep;
              continue;
            }
            return nullptr;
          }
          if (p + 1 < p_end && std::isdigit(static_cast<unsigned char>(*(p + 1)))) {
            s = matchCapture(s, static_cast<unsigned char>(*(p + 1)));
            if (s == nullptr) return nullptr;
            p += 2;
            continue;
          }
          break;
        default:
          break;
      }
      const char* ep = classEnd(p);
      const bool m = s < src_end && singleMatch(static_cast<unsigned char>(*s), p, ep);
      switch (ep < p_end ? *ep : '\0') {
        case '?':
          if (m)
            if (const char* res = doMatch(s + 1, ep + 1)) return res;
          p = ep + 1;
          continue;
        case '*':
          return maxExpand(s, p, ep);
        case '+':
          return m ? maxExpand(s + 1, p, ep) : nullptr;
        case '-':
          return minExpand(s, p, ep);
        default:
          if (!m) return nullptr;
          ++s;
          p = ep;
          continue;
      }
    }
  }

  void pushOneCapture(int i, const char* s, const char* e) {
    if (i >= level) {
      if (i == 0) lua_pushlstring(L, s, static_cast<size_t>(e - s));  // the whole match
      else luaL_error(L, "invalid capture index");
      return;
    }
    const ptrdiff_t l = capture[i].len;
    if (l == kUnfinished) luaL_error(L, "unfinished capture");
    if (l == kPosition) lua_pushinteger(L, static_cast<lua_Integer>(capture[i].init - src_init + 1));
    else lua_pushlstring(L, capture[i].init, static_cast<size_t>(l));
  }

  // The captures, or the whole match when there are none and s is given.
  int pushCaptures(const char* s, const char* e) {
    const int n = (level == 0 && s != nullptr) ? 1 : level;
    luaL_checkstack(L, n, "too many captures");
    for (int i = 0; i < n; ++i) pushOneCapture(i, s, e);
    return n;
  }

  void reset() {
    level = 0;
    depth = 0;
  }
};

ptrdiff_t relativePosition(ptrdiff_t pos, size_t len) {
  if (pos < 0) pos += static_cast<ptrdiff_t>(len) + 1;
  return pos >= 0 ? pos : 0;
}

const char* plainFind(const char* s, size_t ls, const char* p, size_t lp) {
  if (lp == 0) return s;
  if (lp > ls) return nullptr;
  std::string_view hay(s, ls);
  const size_t at = hay.find(std::string_view(p, lp));
  return at == std::string_view::npos ? nullptr : s + at;
}

int findAux(lua_State* L, const Limits& lim, bool find) {
  size_t ls = 0, lp = 0;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  ptrdiff_t init = relativePosition(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init < 0) init = 0;
  else if (static_cast<size_t>(init) > ls) init = static_cast<ptrdiff_t>(ls);  // 5.1 clamps (5.2 returns nil)
  if (find && (lua_toboolean(L, 4) || std::strpbrk(std::string(p, lp).c_str(), kSpecials) == nullptr)) {
    if (const char* s2 = plainFind(s + init, ls - static_cast<size_t>(init), p, lp)) {
      lua_pushinteger(L, static_cast<lua_Integer>(s2 - s + 1));
      lua_pushinteger(L, static_cast<lua_Integer>(s2 - s + static_cast<ptrdiff_t>(lp)));
      return 2;
    }
    lua_pushnil(L);
    return 1;
  }
  Matcher m{L, s, s + ls, p + lp, lim};
  const bool anchor = lp > 0 && *p == '^';
  if (anchor) ++p;
  const char* s1 = s + init;
  do {
    m.reset();
    if (const char* e = m.doMatch(s1, p)) {
      if (find) {
        lua_pushinteger(L, static_cast<lua_Integer>(s1 - s + 1));
        lua_pushinteger(L, static_cast<lua_Integer>(e - s));
        return m.pushCaptures(nullptr, nullptr) + 2;
      }
      return m.pushCaptures(s1, e);
    }
    m.step();
  } while (s1++ < m.src_end && !anchor);
  lua_pushnil(L);
  return 1;
}

int gmatchStep(lua_State* L) {
  size_t ls = 0, lp = 0;
  const char* s = lua_tolstring(L, lua_upvalueindex(1), &ls);
  const char* p = lua_tolstring(L, lua_upvalueindex(2), &lp);
  const auto* lim = static_cast<const Limits*>(lua_touserdata(L, lua_upvalueindex(4)));
  Matcher m{L, s, s + ls, p + lp, *lim};
  for (const char* src = s + static_cast<ptrdiff_t>(lua_tointeger(L, lua_upvalueindex(3))); src <= m.src_end; ++src) {
    m.reset();
    if (const char* e = m.doMatch(src, p)) {
      lua_Integer next = e - s;
      if (e == src) ++next;  // an empty match: move on by one
      lua_pushinteger(L, next);
      lua_replace(L, lua_upvalueindex(3));
      return m.pushCaptures(src, e);
    }
    m.step();
  }
  return 0;
}

// gmatch's step runs from Lua's for-loop, outside any binding: it turns the
// budget exception into a Lua error itself.
int gmatchAux(lua_State* L) {
  std::string err;
  try {
    return gmatchStep(L);
  } catch (const std::exception& e) {
    err = e.what();
  }
  lua_pushstring(L, err.c_str());
  return lua_error(L);
}

void addValue(Matcher& m, std::string& out, const char* s, const char* e, int tr) {
  lua_State* L = m.L;
  if (tr == LUA_TSTRING || tr == LUA_TNUMBER) {
    size_t l = 0;
    const char* news = lua_tolstring(L, 3, &l);
    for (size_t i = 0; i < l; ++i) {
      if (news[i] != kEscape) {
        out += news[i];
        continue;
      }
      ++i;  // skip the escape
      if (i >= l || !std::isdigit(static_cast<unsigned char>(news[i]))) {
        if (i < l) out += news[i];
      } else if (news[i] == '0') {
        out.append(s, static_cast<size_t>(e - s));
      } else {
        m.pushOneCapture(news[i] - '1', s, e);
        size_t cl = 0;
        const char* cs = lua_tolstring(L, -1, &cl);  // a position capture becomes its digits
        out.append(cs, cl);
        lua_pop(L, 1);
      }
    }
    return;
  }
  if (tr == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    const int n = m.pushCaptures(s, e);
    lua_call(L, n, 1);
  } else {  // table
    m.pushOneCapture(0, s, e);
    lua_gettable(L, 3);
  }
  if (!lua_toboolean(L, -1)) {  // nil or false: keep the original text
    lua_pop(L, 1);
    out.append(s, static_cast<size_t>(e - s));
  } else if (!lua_isstring(L, -1)) {
    luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  } else {
    size_t l = 0;
    const char* v = lua_tolstring(L, -1, &l);
    out.append(v, l);
    lua_pop(L, 1);
  }
}

}  // namespace

int find(lua_State* L, const Limits& lim) { return findAux(L, lim, true); }
int match(lua_State* L, const Limits& lim) { return findAux(L, lim, false); }

int gmatch(lua_State* L, const Limits* lim) {
  luaL_checkstring(L, 1);
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  lua_pushinteger(L, 0);
  lua_pushlightuserdata(L, const_cast<Limits*>(lim));
  lua_pushcclosure(L, gmatchAux, 4);
  return 1;
}

int gsub(lua_State* L, const Limits& lim) {
  size_t srcl = 0, lp = 0;
  const char* src = luaL_checklstring(L, 1, &srcl);
  const char* p = luaL_checklstring(L, 2, &lp);
  const int tr = lua_type(L, 3);
  const lua_Integer max_s = luaL_optinteger(L, 4, static_cast<lua_Integer>(srcl) + 1);
  luaL_argcheck(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
                "string/function/table expected");
  const bool anchor = lp > 0 && *p == '^';
  if (anchor) ++p;
  Matcher m{L, src, src + srcl, p + (lp - (anchor ? 1 : 0)), lim};
  std::string out;
  lua_Integer n = 0;
  while (n < max_s) {
    m.reset();
    const char* e = m.doMatch(src, p);
    if (e != nullptr) {
      ++n;
      addValue(m, out, src, e, tr);
    }
    if (out.size() > lim.max_result_bytes)
      return luaL_error(L, "not enough memory: string.gsub's result passed the rule's memory cap");
    if (e != nullptr && e > src) src = e;
    else if (src < m.src_end) out += *src++;
    else break;
    m.step();
    if (anchor) break;
  }
  out.append(src, static_cast<size_t>(m.src_end - src));
  if (out.size() > lim.max_result_bytes)
    return luaL_error(L, "not enough memory: string.gsub's result passed the rule's memory cap");
  lua_pushlstring(L, out.data(), out.size());
  lua_pushinteger(L, n);
  return 2;
}

}  // namespace bpfex::lua::pattern
