// forEachLine: calls fn(std::string_view line) for each line of `text`,
// without its '\n'; a last line without one counts too.
#pragma once

#include <string_view>

namespace bpfex::base {

template <typename Fn>
void forEachLine(std::string_view text, Fn fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    fn(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
}

}  // namespace bpfex::base
