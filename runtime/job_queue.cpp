#include "runtime/job_queue.hpp"

#include "runtime/crypto.hpp"
#include "runtime/metrics.hpp"

namespace troupe::runtime {

using json = nlohmann::json;

bool& events_written() {
  thread_local bool written = false;
  return written;
}

void insert_events(pqxx::transaction_base& tx, const std::vector<event_row>& events) {
  if (events.empty())
    return;
  events_written() = true;
  json rows = json::array();
  for (const auto& e : events)
    rows.push_back({{"topic", e.topic},
                    {"user_id", e.user_id.empty() ? json(nullptr) : json(e.user_id)},
                    {"playbook_id", e.playbook_id.empty() ? json(nullptr) : json(e.playbook_id)},
                    {"job_id", e.job_id.empty() ? json(nullptr) : json(e.job_id)},
                    {"data", e.data.is_null() ? json::object() : e.data}});
  tx.exec_params("INSERT INTO events (user_id, topic, playbook_id, job_id, data)"
                 " SELECT x.user_id, x.topic, x.playbook_id, x.job_id, x.data"
                 " FROM jsonb_to_recordset($1::jsonb)"
                 " AS x(user_id uuid, topic text, playbook_id uuid, job_id uuid, data jsonb)"
                 " WHERE pg_current_xact_id() IS NOT NULL", // the xid before the first nextval
                 rows.dump());
}

std::optional<enqueued> active_evolution(pqxx::transaction_base& tx,
                                         const std::string& playbook_id) {
  auto rows = tx.exec_params("SELECT id, status FROM jobs WHERE playbook_id = $1"
                             " AND kind = 'evolution' AND status IN ('queued', 'running')",
                             playbook_id);
  if (rows.empty())
    return std::nullopt;
  return enqueued{rows[0][0].c_str(), false, rows[0][1].c_str()};
}

enqueued enqueue_evolution(pqxx::transaction_base& tx, const std::string& user_id,
                           const std::string& playbook_id, int max_attempts,
                           const std::string& trigger, int pending_outcomes) {
  auto id = crypto::uuid_v7();
  auto rows = tx.exec_params(
      "INSERT INTO jobs (id, kind, user_id, playbook_id, max_attempts, payload)"
      " VALUES ($1, 'evolution', $2, $3, $4, jsonb_build_object('trigger', $5::text))"
      " ON CONFLICT (playbook_id) WHERE kind = 'evolution' AND status IN ('queued', 'running')"
      " DO NOTHING RETURNING id",
      id, user_id, playbook_id, max_attempts, trigger);
  if (rows.empty()) {
    // The conflicting job is visible: the index entry that blocked us belongs
    // to a committed or our own transaction's row.
    if (auto active = active_evolution(tx, playbook_id))
      return *active;
    throw std::runtime_error("evolution enqueue conflicted but no active job is visible");
  }
  insert_events(tx, {{"evolution.queued",
                      user_id,
                      playbook_id,
                      id,
                      {{"job_id", id},
                       {"playbook_id", playbook_id},
                       {"trigger", trigger},
                       {"pending_outcomes", pending_outcomes}}}});
  notify_runners(tx, "evolution");
  metrics::job_enqueued_on_commit("evolution");
  return {id, true, "queued"};
}

void insert_rounds(pqxx::transaction_base& tx, const std::string& job_id, const json& rounds) {
  if (rounds.empty())
    return;
  tx.exec_params("INSERT INTO job_rounds (job_id, round_number, proposal, votes,"
                 " aggregated_score, accepted, rejected)"
                 " SELECT $1, x.round_number, x.proposal, x.votes, x.aggregated_score,"
                 " x.accepted, x.rejected FROM jsonb_to_recordset($2::jsonb) AS x("
                 " round_number int, proposal jsonb, votes jsonb, aggregated_score float8,"
                 " accepted jsonb, rejected jsonb)",
                 job_id, rounds.dump());
}

void notify_runners(pqxx::transaction_base& tx, const std::string& kind) {
  tx.exec_params("SELECT pg_notify($1, $2)", jobs_channel, kind);
}

} // namespace troupe::runtime
