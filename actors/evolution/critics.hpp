// The three critics and the voter (evolution.md steps 5 and 6). Pure logic:
// the critic and voter actors call these.
#pragma once

#include "actors/evolution/curation.hpp"
#include "actors/evolution/similarity.hpp"

#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace troupe::evolution {

// Facts about the playbook that every operation of a round is judged
// against, computed once per round so that each vote is cheap: without them a
// round of n operations on a playbook of m bullets costs n·m similarity
// comparisons and n copies of the playbook.
struct round_facts {
  round_facts(const playbook::document& doc, const curation_config& cfg, bool with_index = true);
  std::vector<playbook::bullet> bullets;  // in document order
  std::optional<similarity_index> index;  // over the bullets' content, when asked for
  // Where the first bullet with each id is: (section, line) in the document.
  std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> first;
  std::int64_t bytes = 0;                // of the printed playbook
  std::int64_t next_id = 1;              // the id an ADD would take
};

// What a critic may look at besides the operation.
struct critic_context {
  const playbook::document* doc = nullptr; // the playbook the operations apply to
  curation_config cfg;
  const round_facts* facts = nullptr; // optional: makes the efficiency checks cheap
};

// completeness: favours ADDs backed by failures; disfavours deleting the only
// bullet of a section and content that is empty or a fragment (fewer than
// three words).
vote completeness_vote(const operation& op, const critic_context& ctx);

// efficiency: disfavours ADDs similar to an existing bullet (actionable:
// names the bullet), content over max_bullet_chars (actionable), and growth
// past the token budget; favours MERGE, and DELETE of bullets never helpful.
vote efficiency_vote(const operation& op, const critic_context& ctx);

// safety: disfavours (critically) content that tries to override
// instructions or hijack a role, leaks secrets, or recommends destructive
// actions without a safeguard; disfavours deleting a high-performing bullet
// (helpful > 5, harmful < 2).
vote safety_vote(const operation& op, const critic_context& ctx);

decision decide(const vote& completeness, const vote& efficiency, const vote& safety,
                const voter_config& cfg);

} // namespace troupe::evolution
