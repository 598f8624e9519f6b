// Bullet ids: section slugs, formatting and reading ids, the next free number
// and repeated ids.
#include "actors/playbooks/playbook_format.hpp"

#include "text/ascii.hpp"

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace troupe::playbook {
namespace {

constexpr std::size_t id_min_digits = 5;

struct default_section {
  std::string_view name;
  std::string_view slug;
};

constexpr std::array<default_section, 7> default_sections{{
    {"STRATEGIES & INSIGHTS", "sai"},
    {"FORMULAS & CALCULATIONS", "calc"},
    {"CODE SNIPPETS & TEMPLATES", "code"},
    {"COMMON MISTAKES TO AVOID", "err"},
    {"PROBLEM-SOLVING HEURISTICS", "prob"},
    {"CONTEXT CLUES & INDICATORS", "ctx"},
    {"OTHERS", "misc"},
}};

// ASCII-only and locale-free, as in playbook_format.cpp.
using text::iequals;
using text::is_alnum;
using text::is_digit;
using text::to_lower;
using text::trim;

} // namespace

std::string section_slug(std::string_view section_name) {
  std::string_view name = trim(section_name);
  for (const auto& d : default_sections)
    if (iequals(name, d.name))
      return std::string(d.slug);
  std::string slug;
  bool in_word = false;
  for (char c : name) {
    bool word_char = is_alnum(c);
    if (word_char && !in_word)
      slug += to_lower(c);
    in_word = word_char;
  }
  return slug.empty() ? "x" : slug;
}

std::string make_bullet_id(std::string_view slug, std::int64_t number) {
  // Work on the magnitude as unsigned so that INT64_MIN is representable.
  bool negative = number < 0;
  std::uint64_t magnitude =
      negative ? 0 - static_cast<std::uint64_t>(number) : static_cast<std::uint64_t>(number);
  std::string digits = std::to_string(magnitude);
  if (digits.size() < id_min_digits)
    digits.insert(0, id_min_digits - digits.size(), '0');
  std::string out(slug);
  out += '-';
  if (negative)
    out += '-';
  out += digits;
  return out;
}

std::optional<std::int64_t> id_number(std::string_view id) {
  std::size_t dash = id.rfind('-');
  if (dash == std::string_view::npos)
    return std::nullopt;
  std::string_view digits = id.substr(dash + 1);
  if (digits.empty())
    return std::nullopt;
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::int64_t value = 0;
  for (char c : digits) {
    if (!is_digit(c))
      return std::nullopt;
    int d = c - '0';
    if (value > (max - d) / 10)
      return std::nullopt;
    value = value * 10 + d;
  }
  return value;
}

std::int64_t next_id_after(const document& doc) {
  std::int64_t next = 1;
  for (const auto& sec : doc.sections)
    for (const auto& l : sec.lines) {
      if (!l.is_bullet)
        continue;
      auto n = id_number(l.b.id);
      // Saturate instead of overflowing; an id at INT64_MAX leaves no room.
      if (n && *n >= next)
        next = *n == std::numeric_limits<std::int64_t>::max() ? *n : *n + 1;
    }
  return next;
}

std::vector<std::string> duplicate_ids(const document& doc) {
  std::vector<std::string> out;
  std::unordered_set<std::string_view> seen;
  std::unordered_set<std::string_view> reported;
  for (const auto& sec : doc.sections)
    for (const auto& l : sec.lines) {
      if (!l.is_bullet || seen.insert(l.b.id).second)
        continue;
      if (reported.insert(l.b.id).second)
        out.push_back(l.b.id);
    }
  return out;
}

} // namespace troupe::playbook
