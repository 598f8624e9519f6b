// The token budget of an evolved playbook (enforce_budget): pruning the least
// useful bullets, or rejecting the version.
#include "actors/evolution/curation.hpp"

#include "actors/evolution/curation_internal.hpp"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace troupe::evolution {

using namespace curation_internal; // the helpers of curation_internal.hpp

namespace {

namespace pb = troupe::playbook;

// The printed size of a bullet line, as print() writes it.
std::int64_t line_bytes(const pb::bullet& b) {
  std::string_view fixed = "[] helpful= harmful= :: \n";
  return static_cast<std::int64_t>(fixed.size() + b.id.size() + std::to_string(b.helpful).size() +
                                   std::to_string(b.harmful).size() + b.content.size());
}

std::int64_t tokens_for(std::int64_t bytes) { return (bytes + 3) / 4; } // as token_estimate()

struct prune_candidate {
  std::int64_t utility;
  std::int64_t age;
  std::size_t order; // document order
  position at;
};

} // namespace

std::vector<std::string> enforce_budget(playbook::document& doc, const curation_config& cfg) {
  auto bytes = static_cast<std::int64_t>(pb::print(doc).size());
  if (tokens_for(bytes) <= cfg.token_budget)
    return {};
  std::string over = "token estimate " + std::to_string(tokens_for(bytes)) +
                     " exceeds the budget " + std::to_string(cfg.token_budget);
  if (cfg.budget_policy == "reject")
    return {"rejected: " + over};

  // Utilities never change while pruning, so the removal order is fixed up
  // front and the size is tracked arithmetically instead of reprinting.
  std::vector<prune_candidate> candidates;
  std::size_t order = 0;
  for (std::size_t s = 0; s < doc.sections.size(); ++s)
    for (std::size_t l = 0; l < doc.sections[s].lines.size(); ++l) {
      const auto& line = doc.sections[s].lines[l];
      if (line.is_bullet)
        candidates.push_back({line.b.helpful - line.b.harmful, id_age(line.b.id).first, order++,
                              position{s, l}});
    }
  std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
    return std::tie(a.utility, a.age, a.order) < std::tie(b.utility, b.age, b.order);
  });

  std::vector<std::string> out;
  std::set<std::pair<std::size_t, std::size_t>> removed;
  for (const auto& c : candidates) {
    if (tokens_for(bytes) <= cfg.token_budget)
      break;
    const auto& b = doc.sections[c.at.section].lines[c.at.line].b;
    bytes -= line_bytes(b);
    removed.insert({c.at.section, c.at.line});
    out.push_back("PRUNE " + b.id + " (budget)");
  }
  // Free text alone may exceed the budget; the version must never do so.
  if (tokens_for(bytes) > cfg.token_budget)
    return {"rejected: " + over + " even without any bullet"};

  for (std::size_t s = 0; s < doc.sections.size(); ++s) {
    auto& lines = doc.sections[s].lines;
    std::vector<pb::line> kept;
    for (std::size_t l = 0; l < lines.size(); ++l)
      if (!removed.contains({s, l}))
        kept.push_back(std::move(lines[l]));
    lines = std::move(kept);
  }
  return out;
}

} // namespace troupe::evolution
