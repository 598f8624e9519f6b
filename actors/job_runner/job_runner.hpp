// The job runner: one per node; claims jobs in batches, keeps their leases
// alive, hands each to the executor of its kind, and records how each attempt
// ended — every state change fenced by the lease token (docs/job-engine.md).
#pragma once

#include "messages/jobs.hpp"
#include "runtime/store.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace troupe::job_runner {

// The values come from config::jobs_settings, where their defaults and
// reasons live (app/node.cpp fills them).
struct kind_config {
  std::string kind;
  int concurrency = 0;
  int max_run_time_s = 0; // an attempt running longer is stopped and fails
  job_executor_actor executor;
};

struct runner_options {
  std::string node_id;
  int lease_s = 0;
  std::chrono::milliseconds heartbeat{0};
  std::chrono::milliseconds poll_interval{0};
  int claim_batch = 0;
  int complete_batch = 0;
  std::chrono::milliseconds backoff_base{0};
  std::chrono::milliseconds backoff_max{0};
  std::chrono::milliseconds drain_grace{0};
  std::vector<kind_config> kinds;
  // When set, jobs are claimed only while it is true (a worker's cluster
  // link clears it when a gateway refuses the node's credentials).
  std::shared_ptr<std::atomic<bool>> admitted;
};

job_runner_actor spawn_runner(caf::actor_system& sys, store_actor store, runner_options opts);

} // namespace troupe::job_runner
