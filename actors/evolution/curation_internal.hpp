// Helpers shared by the curator's files (curation.cpp, curation_apply.cpp,
// curation_budget.cpp); not for use elsewhere.
#pragma once

#include "actors/playbooks/playbook_format.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::evolution::curation_internal {

// Where insights and ADDs go unless they name a mistake or another section.
inline constexpr std::string_view strategies_section = "STRATEGIES & INSIGHTS";

// The parts with sep between them.
std::string join(const std::vector<std::string_view>& parts, std::string_view sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// Characters are UTF-8 code points (every byte that does not continue one).
std::size_t char_count(std::string_view s);

// At most `chars` characters of `s`, cut at the last word boundary when there
// is one, without trailing separators.
std::string cut_at_word(std::string_view s, std::size_t chars);

// Ids order by age (the older first); see curation.cpp.
std::pair<std::int64_t, std::string_view> id_age(std::string_view id);

// Where a line is in a document.
struct position {
  std::size_t section;
  std::size_t line;
};

// The first bullet with id, if there is one.
std::optional<position> find_bullet(const playbook::document& doc, std::string_view id);

} // namespace troupe::evolution::curation_internal
