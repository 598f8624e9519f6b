// Applying accepted curation operations to a playbook (apply) and summing up
// what was applied (diff_summary).
#include "actors/evolution/curation.hpp"

#include "actors/evolution/curation_internal.hpp"
#include "text/ascii.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::evolution {

using namespace curation_internal; // the helpers of curation_internal.hpp

namespace {

namespace pb = troupe::playbook;

using text::collapse_whitespace;
using text::iequals;

// parse() clamps counters here; summed counters are clamped the same way so a
// merged bullet never holds a value that parsing its own text would change.
constexpr std::int64_t counter_cap = 1'000'000'000'000'000;

constexpr std::size_t summary_items = 10;
constexpr std::size_t description_chars = 60;

std::string excerpt(std::string_view content) {
  if (char_count(content) <= description_chars)
    return std::string(content);
  return cut_at_word(content, description_chars) + "\u2026";
}

pb::bullet& bullet_at(pb::document& doc, position p) { return doc.sections[p.section].lines[p.line].b; }

void erase_line(pb::document& doc, position p) {
  auto& lines = doc.sections[p.section].lines;
  lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(p.line));
}

std::int64_t capped_sum(std::int64_t a, std::int64_t b) { return std::min(counter_cap, a + b); }

// The section named `name` (ASCII case-insensitively), created at the end of
// the document when missing.
pb::section& section_named(pb::document& doc, const std::string& name) {
  for (auto& s : doc.sections)
    if (!s.name.empty() && iequals(s.name, name))
      return s;
  doc.sections.push_back(pb::section{name, {}});
  return doc.sections.back();
}

// After the section's last bullet, so free text that closes the section
// (a blank line, a note) stays last; at the end when it has no bullet.
void insert_bullet(pb::section& sec, pb::bullet b) {
  auto last = std::find_if(sec.lines.rbegin(), sec.lines.rend(),
                           [](const pb::line& l) { return l.is_bullet; });
  pb::line l;
  l.is_bullet = true;
  l.b = std::move(b);
  sec.lines.insert(last.base(), std::move(l));
}

// ---------------------------------------------------------------- applying

std::optional<std::string> apply_add(pb::document& doc, const operation& op, std::int64_t& next_id) {
  std::string content = collapse_whitespace(op.content);
  if (content.empty())
    return std::nullopt;
  std::string name = collapse_whitespace(op.section);
  // An unnamed section would print without a heading and fold into the
  // previous one on the next parse.
  if (name.empty())
    name = strategies_section;
  // The slug comes from the section as written in the document, which may
  // differ in case from the operation's spelling.
  pb::section& sec = section_named(doc, name);
  pb::bullet b;
  b.id = pb::make_bullet_id(pb::section_slug(sec.name), next_id++);
  b.content = std::move(content);
  std::string description = "ADD " + b.id + ": " + excerpt(b.content);
  insert_bullet(sec, std::move(b));
  return description;
}

std::optional<std::string> apply_update(pb::document& doc, const operation& op) {
  std::string content = collapse_whitespace(op.content);
  auto at = find_bullet(doc, op.id);
  if (!at || content.empty())
    return std::nullopt;
  bullet_at(doc, *at).content = std::move(content);
  return "UPDATE " + op.id;
}

std::optional<std::string> apply_merge(pb::document& doc, const operation& op) {
  if (op.ids.empty())
    return std::nullopt;
  const std::string& survivor = op.ids.front();
  if (!find_bullet(doc, survivor))
    return std::nullopt;
  std::vector<std::string> removed;
  std::int64_t helpful = 0;
  std::int64_t harmful = 0;
  for (std::size_t k = 1; k < op.ids.size(); ++k) {
    const auto& id = op.ids[k];
    auto at = id == survivor ? std::nullopt : find_bullet(doc, id);
    if (!at)
      continue;
    helpful = capped_sum(helpful, bullet_at(doc, *at).helpful);
    harmful = capped_sum(harmful, bullet_at(doc, *at).harmful);
    erase_line(doc, *at);
    removed.push_back(id);
  }
  if (removed.empty()) // nothing left to merge with
    return std::nullopt;
  // Looked up again: erasing lines may have moved the survivor.
  auto& b = bullet_at(doc, *find_bullet(doc, survivor));
  b.helpful = capped_sum(b.helpful, helpful);
  b.harmful = capped_sum(b.harmful, harmful);
  if (std::string content = collapse_whitespace(op.content); !content.empty())
    b.content = std::move(content);
  return "MERGE " + survivor + " \u2190 " + join(removed, ", ");
}

std::optional<std::string> apply_delete(pb::document& doc, const operation& op) {
  auto at = find_bullet(doc, op.id);
  if (!at)
    return std::nullopt;
  erase_line(doc, *at);
  return "DELETE " + op.id;
}

} // namespace

std::vector<std::string> apply(playbook::document& doc, const std::vector<operation>& accepted,
                               std::int64_t& next_id) {
  // A counter behind the document's ids would hand out a number in use.
  next_id = std::max(next_id, pb::next_id_after(doc));
  std::vector<std::string> out;
  for (const auto& op : accepted) {
    std::optional<std::string> applied;
    if (op.type == "ADD")
      applied = apply_add(doc, op, next_id);
    else if (op.type == "UPDATE")
      applied = apply_update(doc, op);
    else if (op.type == "MERGE")
      applied = apply_merge(doc, op);
    else if (op.type == "DELETE")
      applied = apply_delete(doc, op);
    if (applied)
      out.push_back(std::move(*applied));
  }
  return out;
}

std::string diff_summary(const std::vector<std::string>& applied) {
  std::size_t shown = std::min(applied.size(), summary_items);
  std::string out = join(std::vector<std::string>(applied.begin(),
                                                  applied.begin() + static_cast<std::ptrdiff_t>(shown)),
                         "; ");
  if (applied.size() > shown)
    out += "; \u2026and " + std::to_string(applied.size() - shown) + " more";
  return out;
}

} // namespace troupe::evolution
