// The evolution actor: runs evolution jobs (docs/job-engine.md).
//
//   snapshot (fenced read) ─► reflect ─► count ─► commit (one fenced transaction)
//        └──────── stop requested? checked between steps → cancelled ────────┘
//
// The curator, critics and voter (issue 4) plug in between count and commit.
#pragma once

#include "messages/jobs.hpp"
#include "messages/store.hpp"

namespace troupe::evolution {

struct evolution_options {
  int max_outcomes_per_job = 100;
  int max_attempts = 3; // of the follow-up job a backlog enqueues
};

job_executor_actor spawn_evolution(caf::actor_system& sys, store_actor store,
                                   evolution_options opts);

} // namespace troupe::evolution
