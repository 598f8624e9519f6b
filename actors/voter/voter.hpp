// The voter actor: weighs the three critics' votes on each operation with the
// configured weights, applies the threshold and the safety veto.
#pragma once

#include "messages/evolution.hpp"

namespace troupe::evolution {

voter_actor spawn_voter(caf::actor_system& sys);

} // namespace troupe::evolution
