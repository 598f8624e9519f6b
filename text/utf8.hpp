// UTF-8 checks shared by every input surface: validity (what Postgres text
// and JSON can hold) and lengths counted in characters.
#pragma once

#include <cstddef>
#include <string_view>

namespace troupe::text {

// True when `s` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s);

// The number of code points in valid UTF-8 text (continuation bytes are not
// counted).
std::size_t code_points(std::string_view s);

} // namespace troupe::text
