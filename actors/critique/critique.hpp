// Critique jobs: the API that queues them and the executor that runs them.
//
//   POST /v1/critiques ─► jobs row (kind critique, payload = the plan) ─► runner
//        ─► critique executor: per iteration, the plan critics ─► the voter actor
//           ─► refine; then one fenced transaction: job completed with
//           {iterations, final_plan, converged_because}, job_rounds, critique.iteration
//           events
//   GET /v1/critiques/{job_id} ─► the job with its iterations
#pragma once

#include "messages/api.hpp"
#include "config/settings.hpp"
#include "messages/jobs.hpp"
#include "messages/evolution.hpp"
#include "runtime/store.hpp"

#include <nlohmann/json.hpp>

namespace troupe::critique {

// From config (jobs.max_attempts, critique.max_iterations), where the
// defaults and their reasons live: options_from(settings).
struct critique_api_options {
  int max_attempts = 0;
  int default_max_iterations = 0;
};

critique_api_options options_from(const config::settings& s);

// The job payload of a POST /v1/critiques body: goals, steps (unique ids,
// known dependencies, no cycle), iterations, threshold and weights, checked;
// api_error naming the field otherwise. No database: the fuzz target's entry.
nlohmann::json read_critique_request(const api_request& req, const critique_api_options& opts);

api_actor spawn_critique_api(caf::actor_system& sys, store_actor store, critique_api_options opts);

// The actors a critique asks each iteration: the three critics vote on the
// feedback items (plan_review), the voter decides them — as in evolution.
struct critique_panel {
  evolution::critic_actor completeness;
  evolution::critic_actor efficiency;
  evolution::critic_actor safety;
  evolution::voter_actor voter;
};

// Runs critique jobs.
job_executor_actor spawn_critique_executor(caf::actor_system& sys, store_actor store,
                                           critique_panel panel);

} // namespace troupe::critique
