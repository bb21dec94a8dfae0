#include "lua/instrument.h"

namespace bpfex::lua {

namespace {

bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isIdent(char c) { return isIdentStart(c) || (c >= '0' && c <= '9'); }

// Length of a long bracket opener "[==[" at s[i], or 0; sets level.
size_t longBracket(std::string_view s, size_t i, size_t* level) {
  if (i >= s.size() || s[i] != '[') return 0;
  size_t j = i + 1, eq = 0;
  while (j < s.size() && s[j] == '=') ++j, ++eq;
  if (j < s.size() && s[j] == '[') {
    *level = eq;
    return j - i + 1;
  }
  return 0;
}

// Lua's lexer takes "\n", "\r", "\r\n" and "\n\r" each as one line break,
// wherever they stand: a short comment ends at a bare "\r" as at a "\n". The
// text is rewritten with "\n" for each of them before it is instrumented (and
// it is this text that is loaded), so the instrumenter never has to agree with
// LuaJIT on what ends a line. The meaning is unchanged: Lua turns every break
// in a long string or after a backslash into "\n" anyway, and an unescaped one
// in a short string is an error either way.
std::string normalizeLineBreaks(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '\r' && c != '\n') {
      out += c;
      continue;
    }
    out += '\n';
    if (i + 1 < s.size() && (s[i + 1] == '\r' || s[i + 1] == '\n') && s[i + 1] != c) ++i;
  }
  return out;
}

}  // namespace

base::Result<std::string> instrumentSource(std::string_view original, std::string_view chunk) {
  const std::string text = normalizeLineBreaks(original);
  const std::string_view s = text;
  const std::string call = " " + std::string(kBudgetCheck) + "() ";
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  size_t i = 0, line = 1;
  int function_parens = -1;  // >= 0 while inside a `function (...)` parameter list
  bool after_function = false;
  auto fail = [&](const std::string& why) {
    return base::Error::msg(std::string(chunk) + ":" + std::to_string(line) + ": " + why);
  };
  // A shebang line is not Lua.
  if (s.size() >= 2 && s[0] == '#' && s[1] == '!') {
    while (i < s.size() && s[i] != '\n') out += s[i++];
  }
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\n') {
      ++line;
      out += c;
      ++i;
      continue;
    }
    // Comments: --[==[ ... ]==] or -- to end of line.
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      size_t level = 0;
      const size_t open = longBracket(s, i + 2, &level);
      if (open != 0) {
        const std::string close = "]" + std::string(level, '=') + "]";
        const size_t end = s.find(close, i + 2 + open);
        if (end == std::string_view::npos) return fail("unfinished long comment");
        for (size_t k = i; k < end + close.size(); ++k) line += s[k] == '\n';
        out.append(s.substr(i, end + close.size() - i));
        i = end + close.size();
      } else {
        while (i < s.size() && s[i] != '\n') out += s[i++];
      }
      continue;
    }
    // Long strings [==[ ... ]==].
    if (c == '[') {
      size_t level = 0;
      const size_t open = longBracket(s, i, &level);
      if (open != 0) {
        const std::string close = "]" + std::string(level, '=') + "]";
        const size_t end = s.find(close, i + open);
        if (end == std::string_view::npos) return fail("unfinished long string");
        for (size_t k = i; k < end + close.size(); ++k) line += s[k] == '\n';
        out.append(s.substr(i, end + close.size() - i));
        i = end + close.size();
        continue;
      }
    }
    // Quoted strings with escapes.
    if (c == '"' || c == '\'') {
      size_t j = i + 1;
      while (j < s.size() && s[j] != c) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          if (s[j + 1] == '\n') ++line;
          j += 2;
          continue;
        }
        if (s[j] == '\n') return fail("unfinished string");
        ++j;
      }
      if (j >= s.size()) return fail("unfinished string");
      out.append(s.substr(i, j + 1 - i));
      i = j + 1;
      continue;
    }
    if (isIdentStart(c)) {
      size_t j = i;
      while (j < s.size() && isIdent(s[j])) ++j;
      const std::string_view word = s.substr(i, j - i);
      // Part of a field access (t.do is not a keyword position in Lua, but
      // t.repeat_count is an identifier anyway); keywords never follow '.' or ':'.
      const bool member = !out.empty() && (out.back() == '.' || out.back() == ':') &&
                          !(out.size() >= 2 && out[out.size() - 2] == '.');
      if (word == kBudgetCheck) return fail(std::string(kBudgetCheck) + " is a reserved name");
      out.append(word);
      i = j;
      if (member) continue;
      if (word == "do" || word == "repeat") out += call;
      else if (word == "goto") out.insert(out.size() - 4, call);
      else if (word == "function") after_function = true;
      continue;
    }
    if (after_function && c == '(') {
      after_function = false;
      function_parens = 1;
      out += c;
      ++i;
      continue;
    }
    if (function_parens > 0) {
      if (c == '(') ++function_parens;
      if (c == ')' && --function_parens == 0) {
        out += c;
        out += call;
        ++i;
        function_parens = -1;
        continue;
      }
    }
    out += c;
    ++i;
  }
  return out;
}

}  // namespace bpfex::lua
