// Messages between the evolution actor, the three critic actors and the voter.
//
//   evolution ──critique_request──► critic{completeness, efficiency, safety}  (in parallel)
//             ◄──critic_votes──────┘
//             ──vote_request──► voter ──vote_result──► evolution
//
// The operation and vote types are the curator's and critics' own
// (actors/evolution); this header makes them messages.
#pragma once

#include "actors/evolution/critics.hpp"

#include <caf/all.hpp>
#include <string>
#include <vector>

namespace troupe::evolution {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, operation& x) {
  return f(caf::meta::type_name("troupe.operation"), x.type, x.section, x.content, x.id, x.ids,
           x.support, x.failures, x.sources, x.revised_from);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vote& x) {
  return f(caf::meta::type_name("troupe.vote"), x.score, x.reason, x.critical, x.actionable);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, curation_config& x) {
  return f(caf::meta::type_name("troupe.curation_config"), x.dedup_threshold, x.prune_margin,
           x.max_bullet_chars, x.token_budget, x.budget_policy);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, voter_config& x) {
  return f(caf::meta::type_name("troupe.voter_config"), x.completeness, x.efficiency, x.safety,
           x.threshold, x.safety_veto);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decision& x) {
  return f(caf::meta::type_name("troupe.decision"), x.score, x.accepted, x.vetoed);
}

// The operations of one round and what the critics may look at: the
// playbook as the operations would find it.
struct critique_request {
  std::string playbook; // ACE text
  std::vector<operation> operations;
  curation_config cfg;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, critique_request& x) {
  return f(caf::meta::type_name("troupe.critique_request"), x.playbook, x.operations, x.cfg);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, llm_usage& x) {
  return f(caf::meta::type_name("troupe.llm_usage"), x.operation, x.model, x.prompt_tokens,
           x.completion_tokens, x.cost_usd, x.calls, x.invalid_answers, x.fallbacks);
}

// One critic's votes, one per operation, in order, and the model use they
// cost (empty for a builtin critic).
struct critic_votes {
  std::string perspective; // completeness | efficiency | safety
  std::vector<vote> votes;
  std::vector<llm_usage> usage;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, critic_votes& x) {
  return f(caf::meta::type_name("troupe.critic_votes"), x.perspective, x.votes, x.usage);
}

struct vote_request {
  critic_votes completeness;
  critic_votes efficiency;
  critic_votes safety;
  voter_config cfg;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vote_request& x) {
  return f(caf::meta::type_name("troupe.vote_request"), x.completeness, x.efficiency, x.safety,
           x.cfg);
}

struct vote_result {
  std::vector<decision> decisions; // one per operation, in order
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vote_result& x) {
  return f(caf::meta::type_name("troupe.vote_result"), x.decisions);
}

// A critic: votes on every operation of a round from one perspective.
using critic_actor = caf::typed_actor<caf::replies_to<critique_request>::with<critic_votes>>;

// The voter: weighs the critics' votes and decides each operation.
using voter_actor = caf::typed_actor<caf::replies_to<vote_request>::with<vote_result>>;

void register_evolution_message_types(caf::actor_system_config& cfg);

} // namespace troupe::evolution
