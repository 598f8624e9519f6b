// Messages between the evolution actor, the three critic actors and the voter.
//
//   evolution ──critique_request──► critic{completeness, efficiency, safety}  (in parallel)
//             ◄──critic_votes──────┘
//             ──vote_request──► voter ──vote_result──► evolution
//
// The values (messages/evolution_types.hpp) are what the pure rules work
// on too; this header adds what makes them messages: inspectors and the
// actors' typed interfaces.
#pragma once

#include "messages/critique_types.hpp"
#include "messages/evolution_types.hpp"

#include <caf/all.hpp>

namespace troupe::evolution {

// ---- inspectors -----------------------------------------------------------------

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

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, critique_request& x) {
  return f(caf::meta::type_name("troupe.critique_request"), x.playbook, x.operations, x.cfg);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, llm_usage& x) {
  return f(caf::meta::type_name("troupe.llm_usage"), x.operation, x.model, x.prompt_tokens,
           x.completion_tokens, x.cost_usd, x.calls, x.invalid_answers, x.fallbacks);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, critic_votes& x) {
  return f(caf::meta::type_name("troupe.critic_votes"), x.perspective, x.votes, x.usage);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vote_request& x) {
  return f(caf::meta::type_name("troupe.vote_request"), x.completeness, x.efficiency, x.safety,
           x.cfg);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vote_result& x) {
  return f(caf::meta::type_name("troupe.vote_result"), x.decisions);
}

// A critic: votes on every operation of a round from one perspective, and
// on every feedback item of a plan critique's iteration.
using critic_actor = caf::typed_actor<caf::replies_to<critique_request>::with<critic_votes>,
                                      caf::replies_to<critique::plan_review>::with<critic_votes>>;

// The voter: weighs the critics' votes and decides each operation.
using voter_actor = caf::typed_actor<caf::replies_to<vote_request>::with<vote_result>>;

void register_evolution_message_types(caf::actor_system_config& cfg);

} // namespace troupe::evolution

namespace troupe::critique {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, plan_step& x) {
  return f(caf::meta::type_name("troupe.plan_step"), x.id, x.text, x.depends_on);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, plan& x) {
  return f(caf::meta::type_name("troupe.plan"), x.goals, x.steps);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, feedback_item& x) {
  return f(caf::meta::type_name("troupe.feedback_item"), x.id, x.critic, x.kind, x.step, x.other,
           x.text);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, plan_review& x) {
  return f(caf::meta::type_name("troupe.plan_review"), x.p, x.items);
}

} // namespace troupe::critique
