#include "actors/playbooks/playbook_format.hpp"

#include "text/ascii.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace troupe::playbook {
namespace {

// Counters are clamped here so that arbitrarily long digit runs never
// overflow int64 and stay far from its limits when incremented elsewhere.
constexpr std::int64_t counter_cap = 1'000'000'000'000'000;

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

constexpr std::string_view markdown_default_section = "STRATEGIES & INSIGHTS";

// ---------------------------------------------------------------- characters
// All classification is ASCII-only and locale-free (text/ascii.hpp), so that
// parsing is a pure function of the bytes (bytes >= 0x80 are never
// whitespace, letters or digits).

using text::iequals;
using text::is_alnum;
using text::is_digit;
using text::is_space;
using text::to_lower;
using text::to_upper;
using text::trim;
using text::trim_left;
using text::trim_right;

bool is_blank(std::string_view s) { return trim(s).empty(); }

// ---------------------------------------------------------------- lines

// Splits on "\r\n", "\r" and "\n". A final line without terminator is still a
// line; a terminator at the very end does not start another (empty) line.
// The returned views never contain '\r' or '\n'.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '\n' && c != '\r') {
      ++i;
      continue;
    }
    out.push_back(text.substr(start, i - start));
    i += (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ? 2 : 1;
    start = i;
  }
  if (start < text.size())
    out.push_back(text.substr(start));
  return out;
}

// ---------------------------------------------------------------- bullets
// A hand-written matcher for
//   ^\[([^\]]+)\]\s*helpful=(\d+)\s*harmful=(\d+)\s*::\s*(.*)$
// Every quantifier in that pattern is followed by something it cannot
// consume (']' after [^\]]+, a non-digit after \d+, a non-space after \s*,
// and (.*) runs to the end), so a single left-to-right scan without
// backtracking finds exactly the regex's match. Linear time, constant stack.

class cursor {
 public:
  explicit cursor(std::string_view s) : s_(s) {}

  bool literal(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit)
      return false;
    pos_ += lit.size();
    return true;
  }

  void skip_spaces() {
    while (pos_ < s_.size() && is_space(s_[pos_]))
      ++pos_;
  }

  // [^\]]+ followed by ']': the id ends at the first ']'.
  std::optional<std::string_view> bracket_body() {
    std::size_t close = s_.find(']', pos_);
    if (close == std::string_view::npos || close == pos_)
      return std::nullopt;
    std::string_view body = s_.substr(pos_, close - pos_);
    pos_ = close + 1;
    return body;
  }

  // \d+ with the value clamped to counter_cap.
  std::optional<std::int64_t> counter() {
    std::size_t begin = pos_;
    std::int64_t value = 0;
    while (pos_ < s_.size() && is_digit(s_[pos_])) {
      // value < counter_cap here, so value * 10 + 9 cannot overflow.
      if (value < counter_cap)
        value = std::min(counter_cap, value * 10 + (s_[pos_] - '0'));
      ++pos_;
    }
    if (pos_ == begin)
      return std::nullopt;
    return value;
  }

  std::string_view rest() const { return s_.substr(pos_); }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

std::optional<bullet> match_bullet(std::string_view text) {
  cursor c{text};
  if (!c.literal("["))
    return std::nullopt;
  auto id = c.bracket_body();
  if (!id)
    return std::nullopt;
  c.skip_spaces();
  if (!c.literal("helpful="))
    return std::nullopt;
  auto helpful = c.counter();
  if (!helpful)
    return std::nullopt;
  c.skip_spaces();
  if (!c.literal("harmful="))
    return std::nullopt;
  auto harmful = c.counter();
  if (!harmful)
    return std::nullopt;
  c.skip_spaces();
  if (!c.literal("::"))
    return std::nullopt;
  c.skip_spaces();
  return bullet{std::string(*id), *helpful, *harmful, std::string(c.rest())};
}

// ---------------------------------------------------------------- headings

// "## NAME": exactly two '#', then a space, then a name that is non-empty
// after trimming. An empty name is not a heading: a section named "" prints
// without a heading line, so accepting it would not survive print/parse.
std::optional<std::string_view> match_ace_heading(std::string_view text) {
  if (text.size() < 3 || text[0] != '#' || text[1] != '#' || text[2] != ' ')
    return std::nullopt;
  std::string_view name = trim(text.substr(3));
  if (name.empty())
    return std::nullopt;
  return name;
}

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

// ---------------------------------------------------------------- printing

void append_number(std::string& out, std::int64_t n) { out += std::to_string(n); }

void append_bullet(std::string& out, const bullet& b) {
  out += '[';
  out += b.id;
  out += "] helpful=";
  append_number(out, b.helpful);
  out += " harmful=";
  append_number(out, b.harmful);
  out += " :: ";
  out += b.content;
}

std::size_t estimated_size(const document& doc) {
  std::size_t n = 0;
  for (const auto& sec : doc.sections) {
    n += sec.name.size() + 4;
    for (const auto& l : sec.lines)
      n += l.is_bullet ? l.b.id.size() + l.b.content.size() + 64 : l.text.size() + 1;
  }
  return n;
}

// ---------------------------------------------------------------- documents

line text_line(std::string_view text) {
  line l;
  l.text = std::string(text);
  return l;
}

line bullet_line(bullet b) {
  line l;
  l.is_bullet = true;
  l.b = std::move(b);
  return l;
}

section& open_section(document& doc, std::string name) {
  doc.sections.push_back(section{std::move(name), {}});
  return doc.sections.back();
}

// First occurrence of every id, in document order.
std::vector<const bullet*> first_occurrences(const document& doc) {
  std::vector<const bullet*> out;
  std::unordered_set<std::string_view> seen;
  for (const auto& sec : doc.sections)
    for (const auto& l : sec.lines)
      if (l.is_bullet && seen.insert(l.b.id).second)
        out.push_back(&l.b);
  return out;
}

std::unordered_map<std::string_view, const bullet*> index_by_id(
    const std::vector<const bullet*>& list) {
  std::unordered_map<std::string_view, const bullet*> out;
  out.reserve(list.size());
  for (const bullet* b : list)
    out.emplace(b->id, b);
  return out;
}

bool same_bullet(const bullet& a, const bullet& b) {
  return a.content == b.content && a.helpful == b.helpful && a.harmful == b.harmful;
}

} // namespace

document parse(std::string_view text) {
  document doc;
  // Lines before the first heading open the preamble lazily, so text that
  // starts with a heading (or is empty) has no preamble section at all.
  section* current = nullptr;
  for (std::string_view raw : split_lines(text)) {
    if (auto name = match_ace_heading(raw)) {
      current = &open_section(doc, std::string(*name));
      continue;
    }
    if (!current)
      current = &open_section(doc, "");
    if (auto b = match_bullet(raw))
      current->lines.push_back(bullet_line(std::move(*b)));
    else
      current->lines.push_back(text_line(raw));
  }
  return doc;
}

std::string print(const document& doc) {
  std::string out;
  out.reserve(estimated_size(doc));
  for (const auto& sec : doc.sections) {
    if (!sec.name.empty()) {
      out += "## ";
      out += sec.name;
      out += '\n';
    }
    for (const auto& l : sec.lines) {
      if (l.is_bullet)
        append_bullet(out, l.b);
      else
        out += l.text;
      out += '\n';
    }
  }
  return out;
}

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
    if (auto item = match_list_item(raw)) {
      if (!current || current->name.empty())
        current = &open_section(doc, std::string(markdown_default_section));
      bullet b;
      b.id = make_bullet_id(section_slug(current->name), next_id++);
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

std::int64_t bullet_count(const document& doc) {
  std::int64_t n = 0;
  for (const auto& sec : doc.sections)
    n += std::count_if(sec.lines.begin(), sec.lines.end(),
                       [](const line& l) { return l.is_bullet; });
  return n;
}

std::int64_t token_estimate(const document& doc) {
  auto bytes = static_cast<std::int64_t>(print(doc).size());
  return (bytes + 3) / 4;
}

std::vector<bullet> bullets(const document& doc) {
  std::vector<bullet> out;
  for (const auto& sec : doc.sections)
    for (const auto& l : sec.lines)
      if (l.is_bullet)
        out.push_back(l.b);
  return out;
}

diff_result diff(const document& from, const document& to) {
  // Only the first bullet with a given id takes part, on both sides.
  auto from_list = first_occurrences(from);
  auto to_list = first_occurrences(to);
  auto from_index = index_by_id(from_list);
  auto to_index = index_by_id(to_list);

  diff_result out;
  for (const bullet* b : to_list) {
    auto it = from_index.find(b->id);
    if (it == from_index.end())
      out.added.push_back(*b);
    else if (!same_bullet(*it->second, *b))
      out.changed.push_back(bullet_change{b->id, *it->second, *b});
  }
  for (const bullet* b : from_list)
    if (!to_index.contains(b->id))
      out.removed.push_back(*b);
  return out;
}

} // namespace troupe::playbook
