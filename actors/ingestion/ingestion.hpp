// The ingestion actor: records outcomes with group commit (docs/job-engine.md).
//
//   POST …/outcomes ─► validate ─► queue ─► one transaction per batch ─► answer each
//                                    ▲           (only after commit)
//                                    └── next batch = what queued meanwhile
//
// Also answers GET …/outcomes, and a playbook's export and import
// (portability.hpp), which carry its outcomes.
#pragma once

#include "config/settings.hpp"
#include "messages/api.hpp"
#include "runtime/store.hpp"

namespace troupe::ingestion {

struct ingestion_options {
  config::outcomes_settings outcomes;
  config::playbooks_settings playbooks; // export and import (portability.hpp)
  int max_attempts = 0; // of the evolution jobs it enqueues (jobs.max_attempts)
};

// Registers the batch writer's prepared statements (call before spawn_store).
void register_statements();

api_actor spawn_ingestion(caf::actor_system& sys, store_actor store, ingestion_options opts);

// The same actor's handle for direct requests (POST …/outcomes only).
direct_actor direct_handle(const api_actor& ingestion);

} // namespace troupe::ingestion
