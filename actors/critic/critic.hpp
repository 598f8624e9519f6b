// A critic actor: one per perspective (completeness, efficiency, safety).
// It holds no state; every request carries the playbook and the operations.
// A builtin critic answers at once; an llm critic asks the model on a
// blocking worker and falls back to the builtin rule (actors/evolution/llm_steps.hpp).
#pragma once

#include "actors/evolution/llm_steps.hpp"
#include "messages/evolution.hpp"

#include <memory>

namespace troupe::evolution {

// `perspective` is completeness, efficiency or safety; `engine` null for
// the builtin rules.
critic_actor spawn_critic(caf::actor_system& sys, const std::string& perspective,
                          std::shared_ptr<const llm_engine> engine = nullptr);

} // namespace troupe::evolution
