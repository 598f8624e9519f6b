// UTF-8 checks shared by every input surface (HTTP bodies and queries,
// playbook content, configuration): validity (what Postgres text, JSON and
// TOML can hold) and lengths counted in characters. The bottom layer: it
// depends on nothing of troupe.
#pragma once

#include <cstddef>
#include <string_view>

namespace troupe::text {

// True when `s` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s);

// The number of code points in valid UTF-8 text (continuation bytes are not
// counted).
std::size_t code_points(std::string_view s);

// True when `s` holds a C0 control character (U+0000..U+001F) or DEL.
bool has_control_characters(std::string_view s);

} // namespace troupe::text
