// Comparing two versions of a playbook bullet by bullet (diff).
#include "actors/playbooks/playbook_format.hpp"

#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace troupe::playbook {
namespace {

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
