// Parsing and printing ACE text, and counting a document's bullets and tokens.
// Markdown import, ids and diffs are in playbook_markdown.cpp, playbook_ids.cpp
// and playbook_diff.cpp.
#include "actors/playbooks/playbook_format.hpp"

#include "actors/playbooks/playbook_format_internal.hpp"
#include "text/ascii.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::playbook {

using namespace format_internal; // the helpers of playbook_format_internal.hpp

namespace {

// Counters are clamped here so that arbitrarily long digit runs never
// overflow int64 and stay far from its limits when incremented elsewhere.
constexpr std::int64_t counter_cap = 1'000'000'000'000'000;

// ---------------------------------------------------------------- characters
// All classification is ASCII-only and locale-free (text/ascii.hpp), so that
// parsing is a pure function of the bytes (bytes >= 0x80 are never
// whitespace, letters or digits).

using text::is_digit;
using text::is_space;
using text::trim;

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

} // namespace

namespace format_internal {

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

} // namespace format_internal

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

} // namespace troupe::playbook
