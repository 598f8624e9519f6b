// Line by line over a text, for the analysis' readers.
#pragma once

#include <string_view>

namespace troupe::analyzer {

// Calls f(line) for each line of `text` (without its '\n'; a last line
// without one included).
template <class F>
void for_each_line(std::string_view text, F f) {
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    auto end = nl == std::string_view::npos ? text.size() : nl;
    f(text.substr(start, end - start));
    start = end + 1;
  }
}

} // namespace troupe::analyzer
