// A critic actor: one per perspective (completeness, efficiency, safety).
// It holds no state; every request carries the playbook and the operations.
#pragma once

#include "messages/evolution.hpp"

namespace troupe::evolution {

// `perspective` is completeness, efficiency or safety.
critic_actor spawn_critic(caf::actor_system& sys, const std::string& perspective);

} // namespace troupe::evolution
