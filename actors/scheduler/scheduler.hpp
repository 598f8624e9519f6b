// The scheduler: periodic maintenance (maintenance.hpp) on exactly one node
// per database. Leadership is the session-level advisory lock
// "troupe.scheduler" held on the scheduler's own connection: whoever holds
// it works, the others keep trying; a lost connection gives the lock up.
#pragma once

#include "actors/scheduler/maintenance.hpp"
#include "messages/jobs.hpp"
#include "runtime/store.hpp"

#include <caf/all.hpp>
#include <string>

namespace troupe::scheduler {

// The values come from config::settings, where their defaults and reasons
// live (app/node.cpp fills them).
struct scheduler_options {
  std::string connection_string;
  runtime::session_limits limits; // a stalled leader holds no lock for long either
  node_registration node;   // the row every heartbeat refreshes, leader or not
  bool may_lead = true;     // false on workers: they only heartbeat
  int heartbeat_interval_ms = 0;
  int node_timeout_s = 0;   // a node silent this long is gone (node.left, leases rescued)
  int interval_ms = 0;      // maintenance period
  int max_attempts = 0;       // of the evolutions the sweeps queue
  int failure_cooldown_s = 0; // a playbook whose evolution failed is not swept again for this long
  int max_staleness_s = 0;
  int jobs_retention_days = 0;
  int events_retention_days = 0;
  int prune_batch = 0;
};

// A registry row gone for this long is removed by the leader: the node
// crashed, and a restarted node registers under a new id.
inline constexpr int node_forget_s = 900;

// A detached actor (it blocks on its own connection).
scheduler_actor spawn_scheduler(caf::actor_system& sys, scheduler_options opts);

} // namespace troupe::scheduler
