// The scheduler's maintenance units. Each runs in its own transaction on the
// connection it is given and returns how many rows it acted on; each is safe
// to run on any node at any time (they are idempotent), and the scheduler
// runs them on one node at a time only to avoid wasted work.
#pragma once

#include <pqxx/connection>
#include <string>
#include <vector>

namespace troupe::scheduler {

// (The rescue of expired leases is the job lifecycle's:
// lifecycle::rescue_expired, runtime/job_lifecycle.hpp.)

// Active playbooks at or over their threshold with no active evolution get
// one (e.g. after a failed job) — unless an evolution of theirs failed less
// than `cooldown_s` ago, so a playbook whose evolutions keep failing is not
// retried in a tight loop.
int sweep_thresholds(pqxx::connection& conn, int max_attempts, int cooldown_s);

// Playbooks with pending outcomes whose last evolution (or creation) is older
// than `max_staleness_s` get an evolution. 0 disables the rule.
int trigger_stale(pqxx::connection& conn, int max_attempts, int max_staleness_s);

// Deletes up to `batch` completed or cancelled jobs finished more than
// `retention_days` ago (their rounds go with them).
int prune_jobs(pqxx::connection& conn, int retention_days, int batch);

// Deletes up to `batch` events older than `retention_days`.
int prune_events(pqxx::connection& conn, int retention_days, int batch);

// ---- the node registry (the nodes table is the truth of who is in the cluster)

struct node_registration {
  std::string node_id;
  std::string role; // serve | gateway | worker
  std::string address;         // HTTP address ("" when none)
  std::string cluster_address; // where its cluster actor is published ("" when none)
  std::string version;
};

// The node's heartbeat: inserts its row or refreshes heartbeat_at, and
// clears a "gone" mark. A node that was not in the registry, or was
// declared gone, writes `node.joined` in the same transaction; answers
// whether it did.
bool heartbeat_node(pqxx::connection& conn, const node_registration& node);

// Nodes other than `self_id` whose heartbeat is older than `timeout_s` and
// not yet declared gone are marked (left_at) with a `node.left` event each,
// and their running jobs are rescued at once. Answers their ids.
std::vector<std::string> retire_silent_nodes(pqxx::connection& conn, int timeout_s,
                                             const std::string& self_id);

// A node stopping cleanly: its row goes, with a `node.left` event.
void unregister_node(pqxx::connection& conn, const std::string& node_id);

} // namespace troupe::scheduler
