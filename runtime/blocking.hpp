// Blocking work off CAF's scheduler: a one-shot detached actor runs one
// function on a thread of its own, answers, and quits. For model calls and
// anything else that waits on the network (the store has its own workers).
#pragma once

#include <caf/all.hpp>
#include <functional>
#include <string>

namespace troupe::runtime {

struct blocking_call {
  std::function<void()> run;
};

// Answers "" when the function returned, or the message of what it threw.
using blocking_actor = caf::typed_actor<caf::replies_to<blocking_call>::with<std::string>>;

blocking_actor spawn_blocking(caf::actor_system& sys);

} // namespace troupe::runtime

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::runtime::blocking_call)
