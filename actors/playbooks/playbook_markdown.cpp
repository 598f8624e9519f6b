// Importing plain markdown as an ACE document: is_plain_markdown,
// from_markdown and parse_any.
#include "actors/playbooks/playbook_format.hpp"

#include "actors/playbooks/playbook_format_internal.hpp"
#include "text/ascii.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace troupe::playbook {

using namespace format_internal; // the helpers of playbook_format_internal.hpp

namespace {

// ASCII-only and locale-free, as in playbook_format.cpp.
using text::is_space;
using text::to_upper;
using text::trim;
using text::trim_left;
using text::trim_right;

constexpr std::string_view markdown_default_section = "STRATEGIES & INSIGHTS";

bool is_blank(std::string_view s) { return trim(s).empty(); }

// Markdown ATX headings of level 1-3, possibly indented, with an optional
// closing run of '#'. Returns the trimmed title, or nullopt when the line is
// not such a heading or its title is empty.
std::optional<std::string_view> match_markdown_heading(std::string_view text) {
  std::string_view s = trim_left(text);
  std::size_t level = 0;
  while (level < s.size() && s[level] == '#')
    ++level;
  if (level < 1 || level > 3 || level >= s.size() || (s[level] != ' ' && s[level] != '\t'))
    return std::nullopt;
  std::string_view title = trim(s.substr(level));
  // A closing sequence counts only when separated from the title by a space
  // ("## C# ##" keeps "C#").
  std::size_t hashes = title.size();
  while (hashes > 0 && title[hashes - 1] == '#')
    --hashes;
  if (hashes == 0)
    title = {};
  else if (hashes < title.size() && is_space(title[hashes - 1]))
    title = trim_right(title.substr(0, hashes));
  if (title.empty())
    return std::nullopt;
  return title;
}

// "- ", "* " or "+ " after optional indentation. Returns the item text with
// the marker and exactly one following space removed.
std::optional<std::string_view> match_list_item(std::string_view text) {
  std::string_view s = trim_left(text);
  if (s.size() < 2 || s[1] != ' ' || (s[0] != '-' && s[0] != '*' && s[0] != '+'))
    return std::nullopt;
  return trim(s.substr(2)); // the content, as a bullet line would read it back
}

} // namespace

bool is_plain_markdown(std::string_view text) {
  bool has_item = false;
  for (std::string_view raw : split_lines(text)) {
    if (match_bullet(raw))
      return false;
    has_item = has_item || match_list_item(raw).has_value();
  }
  return has_item;
}

document from_markdown(std::string_view text, std::int64_t& next_id) {
  document doc;
  // Free text before any heading or item goes to a preamble; the first item
  // before any heading opens "STRATEGIES & INSIGHTS", which then stays
  // current until a heading. Repeated heading names open separate sections,
  // as parse() does.
  section* current = nullptr;
  for (std::string_view raw : split_lines(text)) {
    if (is_blank(raw))
      continue;
    if (auto title = match_markdown_heading(raw)) {
      std::string name(*title);
      std::transform(name.begin(), name.end(), name.begin(), to_upper);
      current = &open_section(doc, std::move(name));
      continue;
    }
    // A list item is a bullet; so is a line in the ACE bullet form, which
    // kept as text would read back as a bullet (found by fuzz_markdown). It
    // keeps its counters and content and gets an id of this import, as ids
    // must stay unique and below the counter.
    auto item = match_list_item(raw);
    auto ace = item ? std::nullopt : match_bullet(raw);
    if (item || ace) {
      if (!current || current->name.empty())
        current = &open_section(doc, std::string(markdown_default_section));
      bullet b = ace ? std::move(*ace) : bullet{};
      b.id = make_bullet_id(section_slug(current->name), next_id++);
      if (item)
        b.content = std::string(*item);
      current->lines.push_back(bullet_line(std::move(b)));
      continue;
    }
    // A markdown heading with an empty title ("## ##") would read back as
    // an ACE heading if kept as text: it is dropped, like any empty heading.
    if (match_ace_heading(raw))
      continue;
    if (!current)
      current = &open_section(doc, "");
    current->lines.push_back(text_line(raw));
  }
  return doc;
}

document parse_any(std::string_view text, std::int64_t& next_id) {
  if (is_plain_markdown(text))
    return from_markdown(text, next_id);
  return parse(text);
}

} // namespace troupe::playbook
