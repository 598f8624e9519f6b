// The jobs actor: the job and evolution routes of the API (api.md, Evolution
// and jobs) — manual triggers, listings, cancel and retry.
#pragma once

#include "messages/api.hpp"
#include "runtime/store.hpp"

namespace troupe::jobs {

// From config (jobs.max_attempts, evolution.manual_triggers_per_hour), where
// the defaults and their reasons live; app/node.cpp fills it.
struct jobs_options {
  int max_attempts = 0;
  int manual_triggers_per_hour = 0;
};

api_actor spawn_jobs_api(caf::actor_system& sys, store_actor store, jobs_options opts);

} // namespace troupe::jobs
