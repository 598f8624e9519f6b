// The three critics and the voter (evolution.md steps 5 and 6). Pure logic:
// the critic and voter actors call these.
#pragma once

#include "actors/evolution/curation.hpp"
#include "actors/evolution/similarity.hpp"

#include <string>
#include <vector>

namespace troupe::evolution {

struct vote {
  double score = 0.5;   // 1.0 agree, 0.5 neutral, 0.0 disagree
  std::string reason;   // one line
  bool critical = false; // a 0.0 safety vote marked critical vetoes
  bool actionable = false; // the curator can revise the operation to answer it
};

// One model answer (calls = 1: one usage record), or one step that fell back
// to the builtin rules (calls = 0, fallbacks = 1), of the llm engine or an
// llm critic.
struct llm_usage {
  std::string operation; // evolution.reflect | evolution.curate | evolution.critic.<perspective>
  std::string model;     // as the provider named it
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double cost_usd = 0;
  int calls = 0;           // 1 for an answer
  int invalid_answers = 0; // 1 when the answer failed validation
  int fallbacks = 0;       // 1 for a fallback
};

// Facts about the playbook that every operation of a round is judged
// against, computed once per round so that each vote is cheap: without them a
// round of n operations on a playbook of m bullets costs n·m similarity
// comparisons and n copies of the playbook.
struct round_facts {
  round_facts(const playbook::document& doc, const curation_config& cfg);
  std::vector<playbook::bullet> bullets; // in document order
  similarity_index index;                // over the bullets' content
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

struct voter_config {
  double completeness = 0.4;
  double efficiency = 0.3;
  double safety = 0.3;
  double threshold = 0.5; // accepted when score >= threshold (within 1e-9)
  bool safety_veto = true;
};

struct decision {
  double score = 0;
  bool accepted = false;
  bool vetoed = false;
};

decision decide(const vote& completeness, const vote& efficiency, const vote& safety,
                const voter_config& cfg);

} // namespace troupe::evolution
