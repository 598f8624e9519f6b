// The scheduler: periodic maintenance (maintenance.hpp) on exactly one node
// per database. Leadership is the session-level advisory lock
// "troupe.scheduler" held on the scheduler's own connection: whoever holds
// it works, the others keep trying; a lost connection gives the lock up.
#pragma once

#include <caf/all.hpp>
#include <string>

namespace troupe::scheduler {

struct scheduler_options {
  std::string connection_string;
  std::string node_id;   // whose heartbeat_at each pass refreshes, leader or not
  int node_stale_s = 30; // a node whose heartbeat is older is stale (docs/metrics.md)
  int interval_ms = 5000;
  int max_attempts = 3;
  int cooldown_ms = 300000;
  int max_staleness_s = 86400;
  int jobs_retention_days = 30;
  int events_retention_days = 7;
  int prune_batch = 500;
};

// A registry row stale for this long is removed by the leader: the node
// crashed, and a restarted node registers under a new id.
inline constexpr int node_forget_s = 900;

// A detached actor (it blocks on its own connection).
caf::actor spawn_scheduler(caf::actor_system& sys, scheduler_options opts);

} // namespace troupe::scheduler
