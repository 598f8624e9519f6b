#include "actors/scheduler/maintenance.hpp"

#include "runtime/job_lifecycle.hpp"
#include "runtime/outbox.hpp"

#include <pqxx/pqxx>

namespace troupe::scheduler {
namespace {

// Queues an evolution for every (user, playbook, pending) row, one at a time
// so each keeps the ON CONFLICT guarantee. The rows' playbooks are locked
// (FOR UPDATE, in id order), as ingestion and manual triggers lock them
// before enqueueing: without it an enqueue here and one there deadlock on
// the unique index and the playbook row. Playbooks busy elsewhere are skipped
// (SKIP LOCKED) and looked at again on the next pass.
int enqueue_all(pqxx::work& tx, const pqxx::result& rows, int max_attempts,
                const std::string& trigger) {
  int n = 0;
  for (const auto& r : rows)
    n += lifecycle::enqueue_evolution(tx, r[0].c_str(), r[1].c_str(), max_attempts, trigger,
                                    r[2].as<int>())
             .is_new;
  return n;
}

// Queues an evolution for up to 1000 active playbooks that match `rule` (an
// SQL condition on playbooks p; its parameters are $2…) and have no active
// evolution and none that failed less than `cooldown_s` ago, in one
// transaction.
template <class... RuleParams>
int queue_matching(pqxx::connection& conn, const std::string& rule, int max_attempts,
                   const std::string& trigger, int cooldown_s, RuleParams... rule_params) {
  pqxx::work tx{conn};
  auto rows = tx.exec_params(
      "SELECT p.user_id, p.id, p.pending_outcomes FROM playbooks p"
      " WHERE p.status = 'active' AND (" + rule + ")"
      " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.playbook_id = p.id AND j.kind = 'evolution'"
      "   AND (j.status IN ('queued', 'running') OR (j.status = 'failed'"
      "   AND j.completed_at > now() - make_interval(secs => $1))))"
      " ORDER BY p.id LIMIT 1000 FOR UPDATE OF p SKIP LOCKED",
      cooldown_s, rule_params...);
  int n = enqueue_all(tx, rows, max_attempts, trigger);
  tx.commit();
  return n;
}

} // namespace

int sweep_thresholds(pqxx::connection& conn, int max_attempts, int cooldown_s) {
  return queue_matching(conn, "p.pending_outcomes > 0 AND p.pending_outcomes >= p.evolution_threshold",
                        max_attempts, "sweep", cooldown_s);
}

int trigger_stale(pqxx::connection& conn, int max_attempts, int max_staleness_s) {
  if (max_staleness_s <= 0)
    return 0;
  return queue_matching(conn,
                        "p.pending_outcomes >= 1 AND coalesce(p.last_evolved_at, p.created_at)"
                        " < now() - make_interval(secs => $2)",
                        max_attempts, "staleness", max_staleness_s, max_staleness_s);
}

int prune_jobs(pqxx::connection& conn, int retention_days, int batch) {
  pqxx::work tx{conn};
  auto rows = tx.exec_params(
      "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs"
      " WHERE status IN ('completed', 'cancelled')"
      " AND completed_at < now() - make_interval(days => $1) LIMIT $2)",
      retention_days, batch);
  tx.commit();
  return static_cast<int>(rows.affected_rows());
}

int prune_events(pqxx::connection& conn, int retention_days, int batch) {
  pqxx::work tx{conn};
  // Events leave oldest id first: of the `batch` lowest ids, those older
  // than the retention. Ids follow time (one sequence, taken at insert), so
  // this reads at most `batch` rows through the primary key however big the
  // table is, and needs no index on created_at.
  auto rows = tx.exec_params("DELETE FROM events WHERE id IN (SELECT id FROM"
                             " (SELECT id, created_at FROM events ORDER BY id LIMIT $2) oldest"
                             " WHERE created_at < now() - make_interval(days => $1))",
                             retention_days, batch);
  tx.commit();
  return static_cast<int>(rows.affected_rows());
}

// ---- the node registry ------------------------------------------------------------------

namespace {

nlohmann::json node_event_data(const std::string& id, const std::string& role,
                               const std::string& reason) {
  return {{"node_id", id}, {"role", role}, {"reason", reason}};
}

} // namespace

bool heartbeat_node(pqxx::connection& conn, const node_registration& node) {
  pqxx::work tx{conn};
  // The row is locked first, so a leader retiring this node at the same
  // moment is either seen (this heartbeat brings it back: node.joined) or
  // waits and then finds the heartbeat fresh.
  auto prev = tx.exec_params("SELECT left_at IS NOT NULL FROM nodes WHERE id = $1 FOR UPDATE",
                             node.node_id);
  bool joined = prev.empty() || prev[0][0].as<bool>();
  tx.exec_params("INSERT INTO nodes (id, role, address, cluster_address, version)"
                 " VALUES ($1, $2, nullif($3, ''), nullif($4, ''), $5)"
                 " ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), left_at = NULL,"
                 " address = excluded.address, cluster_address = excluded.cluster_address",
                 node.node_id, node.role, node.address, node.cluster_address, node.version);
  if (joined)
    runtime::insert_events(
        tx, {{"node.joined", "", "", "", node_event_data(node.node_id, node.role, "heartbeat")}});
  tx.commit();
  return joined;
}

std::vector<std::string> retire_silent_nodes(pqxx::connection& conn, int timeout_s,
                                             const std::string& self_id) {
  std::vector<std::string> gone;
  {
    pqxx::work tx{conn};
    auto rows = tx.exec_params(
        "UPDATE nodes SET left_at = now() WHERE left_at IS NULL AND id <> $2"
        " AND heartbeat_at < now() - make_interval(secs => $1) RETURNING id, role",
        timeout_s, self_id);
    std::vector<runtime::event_row> events;
    for (const auto& row : rows) {
      gone.emplace_back(row[0].c_str());
      events.push_back({"node.left", "", "", "",
                        node_event_data(row[0].c_str(), row[1].c_str(), "heartbeat timeout")});
    }
    runtime::insert_events(tx, events);
    tx.commit();
  }
  lifecycle::rescue_from_nodes(conn, gone);
  return gone;
}

void unregister_node(pqxx::connection& conn, const std::string& node_id) {
  pqxx::work tx{conn};
  auto rows = tx.exec_params("DELETE FROM nodes WHERE id = $1 RETURNING role, left_at IS NULL",
                             node_id);
  if (!rows.empty() && rows[0][1].as<bool>())
    runtime::insert_events(
        tx, {{"node.left", "", "", "", node_event_data(node_id, rows[0][0].c_str(), "stopped")}});
  tx.commit();
}

} // namespace troupe::scheduler
