// Messages of the job engine.
//
//   listener thread ──wake──► job runner ──job_assignment──► executor of the kind
//   scheduler/API ───wake──►      ▲      ◄──job_result───────┘
//                                 └── stop (lease lost, cancel requested, time limit, drain)
//
// Postgres holds the truth: a lost message delays a job, it never loses or
// duplicates one, because every state change is fenced by the lease token.
#pragma once

#include <caf/all.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace troupe {

// A job's status, as the jobs.status column spells it
// (runtime/job_lifecycle.hpp draws the transitions).
enum class job_status : std::uint8_t { queued, running, completed, failed, cancelled };

std::string_view to_string(job_status s);
std::optional<job_status> job_status_of(std::string_view s);

// Why the runner asked a running attempt to stop.
enum class stop_reason : std::uint8_t {
  none,
  cancel,  // a client asked for the job to be cancelled
  lost,    // the heartbeat found another attempt holds the job now
  timeout, // the attempt ran past its kind's max_run_time_s
  drain,   // the node is shutting down: the lease is given back
};

// A claimed job, as handed to the executor of its kind.
struct job_assignment {
  std::string id;
  std::string kind;
  std::string lease_token;
  std::int32_t attempt = 0;
  std::int32_t max_attempts = 0;
  std::string user_id;
  std::string playbook_id; // empty for kinds without a playbook
  std::string payload;     // JSON object
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_assignment& x) {
  return f(caf::meta::type_name("troupe.job_assignment"), x.id, x.kind, x.lease_token, x.attempt,
           x.max_attempts, x.user_id, x.playbook_id, x.payload);
}

// How an attempt ended, from the executor's side.
enum class attempt_end : std::uint8_t {
  completed, // the executor committed the job itself (its effects and the
             // completion in one fenced transaction), or — when `committed`
             // is false — the runner completes it (jobs without effects)
  failed,    // the attempt failed; `retryable` says whether another attempt may help
  cancelled, // the executor stopped at a step boundary because it was asked to
  lost,      // the executor's fenced write matched no row: the lease is gone
};

std::string_view to_string(attempt_end e);

struct job_result {
  std::string id;
  std::string lease_token;
  attempt_end status = attempt_end::failed;
  bool committed = false;
  bool retryable = true;
  std::string error;
  std::string result; // JSON for the job's `result`, when the runner completes it
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_result& x) {
  return f(caf::meta::type_name("troupe.job_result"), x.id, x.lease_token, x.status, x.committed,
           x.retryable, x.error, x.result);
}

using wake_atom = caf::atom_constant<caf::atom("wake")>;
using stop_job_atom = caf::atom_constant<caf::atom("stopjob")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;

// The executor of one job kind. `stop_job` asks the attempt with this id to
// stop at its next step boundary (it then answers `cancelled`, or `lost`).
using job_executor_actor =
    caf::typed_actor<caf::replies_to<job_assignment>::with<job_result>,
                     caf::reacts_to<stop_job_atom, std::string>>;

// The job runner: `wake` when jobs may be runnable; `drain` stops claiming,
// asks running jobs to stop, releases what did not finish, then answers.
using job_runner_actor = caf::typed_actor<caf::reacts_to<wake_atom>,
                                          caf::replies_to<drain_atom>::with<bool>>;

// The scheduler (actors/scheduler), leader of maintenance by advisory lock:
// `maintain` runs a pass now (lease rescue, sweeps, pruning); its own timer
// sends it every jobs.maintenance_interval_ms.
using maintain_atom = caf::atom_constant<caf::atom("maintain")>;
using scheduler_actor = caf::typed_actor<caf::reacts_to<maintain_atom>>;

void register_job_message_types(caf::actor_system_config& cfg);

} // namespace troupe
