// The noop job kind: measures the engine itself (claim, dispatch, complete)
// and probes it. Enabled only by jobs.enable_noop. Its payload may ask it to
//   {"fail_attempts": N}  fail attempts 1..N (retryable unless "retryable": false)
//   {"steps": K, "step_ms": M}  take K steps of M ms each, stopping between
//                               steps when asked (cancel, lease lost, drain)
// With an empty payload it completes at once, without effects, so the runner
// completes it in a batch.
#pragma once

#include "messages/jobs.hpp"

namespace troupe::job_runner {

job_executor_actor spawn_noop(caf::actor_system& sys);

} // namespace troupe::job_runner
