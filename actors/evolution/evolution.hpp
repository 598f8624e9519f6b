// The evolution actor: runs evolution jobs (evolution.md, docs/evolution.md).
//
//   snapshot (fenced read) ─► reflect, count, propose ─► round*: critics ∥ ─► voter
//        ─► apply, budget ─► commit (one fenced transaction, rounds included)
//   A stop request is honoured between steps (cancelled); each step reports
//   job.progress.
#pragma once

#include "actors/evolution/llm_steps.hpp"
#include "actors/evolution/pipeline.hpp"
#include "messages/evolution.hpp"
#include "messages/jobs.hpp"
#include "runtime/store.hpp"

namespace troupe::evolution {

// The figures come from config (evolution.*, jobs.max_attempts), where the
// defaults and their reasons live; app/node.cpp fills them.
struct evolution_options {
  int max_outcomes_per_job = 0;
  int max_attempts = 0; // of the follow-up job a backlog enqueues
  pipeline_config pipeline;
  // The model for the reflector and curator (evolution.engine = "llm"); null
  // for the builtin rules. Model calls run on blocking workers.
  std::shared_ptr<const llm_engine> engine;
  critic_actor completeness;
  critic_actor efficiency;
  critic_actor safety;
  voter_actor voter;
};

job_executor_actor spawn_evolution(caf::actor_system& sys, store_actor store,
                                   evolution_options opts);

} // namespace troupe::evolution
