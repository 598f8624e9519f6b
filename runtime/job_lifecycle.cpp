#include "runtime/job_lifecycle.hpp"

#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/metrics.hpp"
#include "runtime/store.hpp"

#include <string_view>

namespace troupe::lifecycle {
namespace {

using json = nlohmann::json;

// ---- the SQL written once ---------------------------------------------------------------

// $1 of every fenced statement: the leases as [{id, token, …}]. `more`
// declares further fields of each element.
std::string leases_sql(std::string_view more = {}) {
  return std::string{"jsonb_to_recordset($1::jsonb) AS x(id uuid, token uuid"} + std::string{more} +
         ")";
}

// The lease fence, on `jobs j` joined with leases_sql().
constexpr std::string_view fence_sql =
    "j.id = x.id AND j.status = 'running' AND j.lease_token = x.token";

// The same for a single lease. Its last term repeats the join's id match as
// a list, so that the job is looked up by primary key: the planner takes
// the leases for 100 rows (a set-returning function), and a generic plan
// made while few jobs ran otherwise reads every running job on every call
// (2.2 ms with 5,000 running, against 0.24 ms). For a batch of leases (a
// heartbeat, a batched completion) the scan of the running jobs is shared
// by all of them and cheaper than as many lookups, so those keep fence_sql.
const std::string one_fence_sql =
    std::string{fence_sql} +
    " AND j.id = ANY (ARRAY(SELECT (l->>'id')::uuid FROM jsonb_array_elements($1::jsonb) l))";

// The outbox insert for job events written set-wise: one event per row of
// `rows` (id, user_id, playbook_id, kind, …); `topic` is an SQL expression;
// `data` adds arguments to the data's jsonb_build_object beside job_id and
// kind. The rows come from the statement's UPDATE … RETURNING, so the
// transaction has its id before the events take theirs (runtime/outbox.hpp).
// The caller reports what it wrote with wrote_events().
std::string job_events_sql(std::string_view rows, std::string_view topic,
                           std::string_view data = {}) {
  return std::string{"INSERT INTO events (user_id, topic, playbook_id, job_id, data) SELECT user_id, "} +
         std::string{topic} + ", playbook_id, id, jsonb_build_object('job_id', id, 'kind', kind" +
         std::string{data} + ") FROM " + std::string{rows};
}

// A job event written row-wise (through runtime::insert_events).
runtime::event_row job_event(const std::string& topic, const std::string& user_id,
                             const job_assignment& job, json more = json::object()) {
  more["job_id"] = job.id;
  more["kind"] = job.kind;
  return {topic, user_id, job.playbook_id, job.id, std::move(more)};
}

// An attempt that ended without completing, for fail_attempt and
// rescue_expired alike: `ended` is a CTE that selects and locks the jobs;
// the next status follows the retry rule; the error joins the history; the
// event says what happened. `retryable`, `run_after`, `error_entry`,
// `error_message` and `event_data` are SQL expressions.
std::string attempt_ended_sql(std::string_view ended, std::string_view retryable,
                              std::string_view run_after, std::string_view error_entry,
                              std::string_view error_message, std::string_view event_data) {
  std::string s{"WITH "};
  s += ended;
  s += ", next AS (SELECT j.id, CASE WHEN j.cancel_requested THEN 'cancelled' WHEN ";
  s += retryable;
  s += " AND j.attempt < j.max_attempts THEN 'queued' ELSE 'failed' END AS status"
       " FROM jobs j JOIN ended USING (id)),"
       " upd AS (UPDATE jobs j SET status = next.status, run_after = ";
  s += run_after;
  s += ", errors = j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt,"
       " 'error', ";
  s += error_entry;
  s += ", 'at', rfc3339(now()))), error_message = ";
  s += error_message;
  s += ", lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,"
       " completed_at = CASE WHEN next.status = 'queued' THEN NULL ELSE now() END,"
       " updated_at = now() FROM next WHERE j.id = next.id"
       " RETURNING j.id, j.status, j.user_id, j.playbook_id, j.kind, j.attempt, j.run_after),"
       " ev AS (";
  s += job_events_sql("upd",
                      "CASE status WHEN 'queued' THEN 'job.retrying'"
                      " WHEN 'cancelled' THEN 'job.cancelled' ELSE 'job.failed' END",
                      event_data);
  s += ") SELECT kind, status, count(*) FROM upd GROUP BY kind, status";
  return s;
}

// Wakes the event bridge after the task (runtime/outbox.hpp) when the
// statement wrote any event: a claim that found nothing, or a write whose
// lease was gone, wakes nobody.
void wrote_events(bool any) {
  if (any)
    runtime::events_written() = true;
}

json leases_json(const std::vector<lease>& held) {
  json out = json::array();
  for (const auto& l : held)
    out.push_back({{"id", l.job_id}, {"token", l.token}});
  return out;
}

json one_lease(const job_assignment& job) {
  return json::array({{{"id", job.id}, {"token", job.lease_token}}});
}

std::optional<std::string> nullable(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>{s};
}

job_status status_of(const pqxx::field& f) {
  auto s = job_status_of(f.c_str());
  if (!s)
    throw std::runtime_error(std::string{"unknown job status "} + f.c_str());
  return *s;
}

} // namespace

// ---- entering the queue ---------------------------------------------------------------

std::string enqueue(pqxx::transaction_base& tx, const new_job& job) {
  auto id = crypto::uuid_v7();
  static const runtime::statement sql{
      "INSERT INTO jobs (id, kind, user_id, playbook_id, project_id, max_attempts, payload)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)"};
  sql(tx, id, job.kind, job.user_id, nullable(job.playbook_id), nullable(job.project_id),
      job.max_attempts, job.payload.dump());
  runtime::insert_events(tx, {{job.queued_topic, job.user_id, job.playbook_id, id, {{"job_id", id}}}});
  runtime::notify_runners(tx, job.kind);
  metrics::job_enqueued_on_commit(job.kind);
  return id;
}

std::optional<enqueued> active_evolution(pqxx::transaction_base& tx,
                                         const std::string& playbook_id) {
  static const runtime::statement sql{
      "SELECT id, status FROM jobs WHERE playbook_id = $1"
      " AND kind = 'evolution' AND status IN ('queued', 'running')"};
  auto rows = sql(tx, playbook_id);
  if (rows.empty())
    return std::nullopt;
  return enqueued{rows[0][0].c_str(), false, status_of(rows[0][1])};
}

enqueued enqueue_evolution(pqxx::transaction_base& tx, const std::string& user_id,
                           const std::string& playbook_id, int max_attempts,
                           const std::string& trigger, int pending_outcomes) {
  auto id = crypto::uuid_v7();
  // The job, its evolution.queued event and the runners' NOTIFY in one
  // statement; nothing of it when another evolution is active. The job row
  // is inserted (and the transaction has its xid) before the event is.
  static const runtime::statement sql{
      "WITH job AS (INSERT INTO jobs (id, kind, user_id, playbook_id, max_attempts, payload)"
      " VALUES ($1, 'evolution', $2, $3, $4, jsonb_build_object('trigger', $5::text))"
      " ON CONFLICT (playbook_id) WHERE kind = 'evolution' AND status IN ('queued', 'running')"
      " DO NOTHING RETURNING id, user_id, playbook_id),"
      " queued AS (INSERT INTO events (user_id, topic, playbook_id, job_id, data)"
      " SELECT user_id, 'evolution.queued', playbook_id, id, jsonb_build_object('job_id', id,"
      " 'playbook_id', playbook_id, 'trigger', $5::text, 'pending_outcomes', $6::int) FROM job),"
      " woken AS (SELECT pg_notify('" + std::string{runtime::jobs_channel} + "', 'evolution') FROM job)"
      " SELECT id, (SELECT count(*) FROM woken) FROM job"};
  auto rows = sql(tx, id, user_id, playbook_id, max_attempts, trigger, pending_outcomes);
  if (rows.empty()) {
    // The conflicting job is visible: the index entry that blocked us belongs
    // to a committed or our own transaction's row.
    if (auto active = active_evolution(tx, playbook_id))
      return *active;
    throw std::runtime_error("evolution enqueue conflicted but no active job is visible");
  }
  runtime::events_written() = true;
  runtime::jobs_enqueued() = true;
  metrics::job_enqueued_on_commit("evolution");
  return {id, true, job_status::queued};
}

// ---- a runner's attempts ---------------------------------------------------------------

namespace {

// One statement claims for every kind: a pick per kind (lateral), each in the
// queue's order and up to its own limit.
std::string claim_sql() {
  return "WITH picked AS (SELECT p.id FROM unnest($1::text[], $2::int[]) AS w(kind, n)"
         "   CROSS JOIN LATERAL (SELECT id FROM jobs WHERE status = 'queued' AND kind = w.kind"
         "   AND run_after <= now() ORDER BY priority, run_after, id LIMIT w.n"
         "   FOR UPDATE SKIP LOCKED) p),"
         " claimed AS (UPDATE jobs j SET status = 'running', attempt = j.attempt + 1,"
         "   lease_owner = $3, lease_token = gen_random_uuid(),"
         "   lease_expires_at = now() + make_interval(secs => $4),"
         "   started_at = coalesce(j.started_at, now()), updated_at = now()"
         "   FROM picked WHERE j.id = picked.id"
         "   RETURNING j.id, j.kind, j.lease_token, j.attempt, j.max_attempts, j.user_id,"
         "   j.playbook_id, j.payload, j.lease_owner),"
         " counted AS (UPDATE nodes SET jobs_started = jobs_started + (SELECT count(*) FROM claimed)"
         "   WHERE id = $3 AND EXISTS (SELECT 1 FROM claimed)),"
         " started AS (" +
         job_events_sql("claimed", "'job.started'", ", 'attempt', attempt, 'node', lease_owner") +
         ") SELECT id, kind, lease_token, attempt, max_attempts, user_id, playbook_id, payload::text"
         " FROM claimed";
}

} // namespace

std::vector<job_assignment> claim(pqxx::connection& conn, const std::vector<claim_want>& wants,
                                  const std::string& node_id, int lease_s) {
  runtime::array_literal kinds, limits;
  for (const auto& w : wants) {
    kinds.text(w.kind);
    limits.bare(std::to_string(w.max));
  }
  pqxx::work tx{conn};
  // The queue's size changes faster than autovacuum refreshes its statistics;
  // on stale estimates the planner sorts the whole queue instead of reading
  // jobs_runnable_idx in order (measured: 95 ms instead of 2 ms per claim).
  // The claimed rows are found one by one through the primary key: the
  // generic plan cannot know the limits, and both a plan made while `jobs`
  // was empty (a sequential scan) and one made on fresh statistics (a hash
  // of the whole table, for an estimated 100,000 picks) read every job on
  // each claim (B2 measured 12k against 18k jobs/s). The statement's plan is
  // made (and remade after an ANALYZE) under these.
  tx.exec("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off;"
          " SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off;"
          " SET LOCAL enable_mergejoin = off");
  static const runtime::statement sql{claim_sql()};
  std::vector<job_assignment> jobs;
  for (const auto& r : sql(tx, kinds.str(), limits.str(), node_id, lease_s))
    jobs.push_back({r[0].c_str(), r[1].c_str(), r[2].c_str(), r[3].as<std::int32_t>(),
                    r[4].as<std::int32_t>(), r[5].c_str(), r[6].is_null() ? "" : r[6].c_str(),
                    r[7].c_str()});
  tx.commit();
  wrote_events(!jobs.empty());
  return jobs;
}

std::map<std::string, bool> heartbeat(pqxx::connection& conn, const std::vector<lease>& held,
                                      int lease_s) {
  static const runtime::statement sql{"UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => $2), updated_at = now()"
      " FROM " + leases_sql() + " WHERE " + std::string{fence_sql} +
      " RETURNING j.id, j.cancel_requested"};
  pqxx::nontransaction tx{conn}; // one statement: its own transaction
  auto rows = sql(tx, leases_json(held).dump(), lease_s);
  std::map<std::string, bool> out;
  for (const auto& r : rows)
    out[r[0].c_str()] = r[1].as<bool>();
  return out;
}

std::string fenced_from() {
  return "jobs j JOIN " + leases_sql() + " ON " + one_fence_sql;
}

std::string lease_parameter(const job_assignment& job) { return one_lease(job).dump(); }

bool holds(pqxx::transaction_base& tx, const job_assignment& job) {
  static const runtime::statement sql{"SELECT 1 FROM jobs j, " + leases_sql() + " WHERE " + one_fence_sql};
  return !sql(tx, one_lease(job).dump()).empty();
}

bool progress(pqxx::connection& conn, const job_assignment& job, const json& step) {
  static const runtime::statement sql{"WITH upd AS (UPDATE jobs j SET progress = $2::jsonb, updated_at = now()"
      " FROM " + leases_sql() + " WHERE " + one_fence_sql +
      " RETURNING j.id, j.user_id, j.playbook_id, j.kind, j.progress),"
      " ev AS (" + job_events_sql("upd", "'job.progress'", ", 'progress', progress") +
      ") SELECT count(*) FROM upd"};
  pqxx::nontransaction tx{conn}; // one statement: its own transaction
  auto rows = sql(tx, one_lease(job).dump(), step.dump());
  if (rows[0][0].as<int>() == 0)
    return false;
  wrote_events(true);
  return true;
}

runtime::event_row progress_event(const job_assignment& job, const std::string& user_id,
                                  json step) {
  return job_event("job.progress", user_id, job, {{"progress", std::move(step)}});
}

bool complete(pqxx::connection& conn, const job_assignment& job, const effects_fn& effects) {
  pqxx::work tx{conn};
  auto c = effects(tx, job.user_id);
  // The fenced completion and every event in one statement, after the
  // effects: when the lease is lost it matches nothing, writes no event, and
  // the transaction (effects included) rolls back. The UPDATE runs before
  // the first event takes its id (the EXISTS), so the transaction has its xid
  // first.
  static const runtime::statement sql{
      "WITH done AS (UPDATE jobs j SET status = 'completed', completed_at = now(),"
      " updated_at = now(), lease_owner = NULL, lease_expires_at = NULL, result = $2::jsonb,"
      " progress = coalesce($3::jsonb, j.progress),"
      " outcomes_processed = coalesce($4, j.outcomes_processed),"
      " from_version_id = coalesce($5::uuid, j.from_version_id),"
      " to_version_id = coalesce($6::uuid, j.to_version_id),"
      " token_totals = coalesce($7::jsonb, j.token_totals)"
      " FROM " + leases_sql() + " WHERE " + one_fence_sql + " RETURNING j.id) " +
      runtime::insert_events_sql("$8") + " WHERE EXISTS (SELECT 1 FROM done) RETURNING 1"};
  auto events = std::move(c.events_before);
  events.push_back(job_event("job.completed", job.user_id, job, std::move(c.event_data)));
  for (auto& e : c.events_after)
    events.push_back(std::move(e));
  auto written = sql(
      tx, one_lease(job).dump(),
      c.result.is_null() ? std::nullopt : std::optional<std::string>{c.result.dump()},
      c.progress.is_null() ? std::nullopt : std::optional<std::string>{c.progress.dump()},
      c.outcomes_processed, c.from_version_id, c.to_version_id,
      c.token_totals.is_null() ? std::nullopt : std::optional<std::string>{c.token_totals.dump()},
      runtime::events_parameter(events));
  if (written.empty())
    return false; // the lease is gone: nothing of this transaction is kept
  runtime::events_written() = true;
  if (c.then)
    c.then(tx);
  tx.commit();
  metrics::job_completed(job.kind);
  return true;
}

void complete_all(pqxx::connection& conn, const std::vector<finished>& done) {
  json rows_in = json::array();
  for (const auto& d : done)
    rows_in.push_back({{"id", d.held.job_id}, {"token", d.held.token}, {"result", d.result}});
  static const runtime::statement sql{"WITH done AS (UPDATE jobs j SET status = 'completed', completed_at = now(),"
      "   updated_at = now(), lease_owner = NULL, lease_expires_at = NULL, result = x.result"
      "   FROM " + leases_sql(", result jsonb") + " WHERE " + std::string{fence_sql} +
      "   RETURNING j.id, j.user_id, j.playbook_id, j.kind),"
      " ev AS (" + job_events_sql("done", "'job.completed'") +
      ") SELECT kind, count(*) FROM done GROUP BY kind"};
  pqxx::nontransaction tx{conn}; // one statement: its own transaction
  auto rows = sql(tx, rows_in.dump());
  wrote_events(!rows.empty());
  for (const auto& r : rows)
    metrics::job_completed(r[0].c_str(), r[1].as<std::int64_t>());
}

std::optional<job_status> fail_attempt(pqxx::connection& conn, const job_assignment& job,
                                       const std::string& error, bool retryable,
                                       std::chrono::milliseconds retry_in) {
  static const runtime::statement sql{attempt_ended_sql(
      "ended AS (SELECT j.id FROM jobs j, " + leases_sql() + " WHERE " + one_fence_sql +
          " FOR UPDATE OF j)",
      "$2", "now() + make_interval(secs => $3::double precision / 1000)", "$4::text", "$4",
      ", 'attempt', attempt, 'error', $4::text,"
      " 'retry_at', CASE WHEN status = 'queued' THEN rfc3339(run_after) END")};
  pqxx::nontransaction tx{conn}; // one statement: its own transaction
  auto rows = sql(tx, one_lease(job).dump(), retryable,
                             static_cast<long long>(retry_in.count()), error);
  wrote_events(!rows.empty());
  if (rows.empty())
    return std::nullopt;
  auto status = status_of(rows[0][1]);
  metrics::job_attempt_failed(job.kind, std::string{to_string(status)});
  return status;
}

bool cancel_attempt(pqxx::connection& conn, const job_assignment& job) {
  static const runtime::statement sql{"WITH upd AS (UPDATE jobs j SET status = 'cancelled', completed_at = now(),"
      "   updated_at = now(), lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL"
      "   FROM " + leases_sql() + " WHERE " + one_fence_sql +
      "   RETURNING j.id, j.user_id, j.playbook_id, j.kind),"
      " ev AS (" + job_events_sql("upd", "'job.cancelled'") + ") SELECT count(*) FROM upd"};
  pqxx::nontransaction tx{conn}; // one statement: its own transaction
  auto rows = sql(tx, one_lease(job).dump());
  wrote_events(rows[0][0].as<int>() > 0);
  if (rows[0][0].as<int>() == 0)
    return false;
  metrics::job_cancelled(job.kind);
  return true;
}

int release(pqxx::connection& conn, const std::vector<lease>& held) {
  static const runtime::statement sql{"WITH upd AS (UPDATE jobs j SET"
      "   status = CASE WHEN j.cancel_requested THEN 'cancelled' ELSE 'queued' END,"
      "   attempt = CASE WHEN j.cancel_requested THEN j.attempt"
      "     ELSE greatest(j.attempt - 1, 0) END,"
      "   completed_at = CASE WHEN j.cancel_requested THEN now() END,"
      "   run_after = now(), lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,"
      "   updated_at = now() FROM " + leases_sql() + " WHERE " + std::string{fence_sql} +
      "   RETURNING j.id, j.status, j.user_id, j.playbook_id, j.kind),"
      " cancelled AS (SELECT * FROM upd WHERE status = 'cancelled'),"
      " ev AS (" + job_events_sql("cancelled", "'job.cancelled'") + ")"
      " SELECT count(*) FILTER (WHERE status = 'queued'),"
      " count(*) FILTER (WHERE status = 'cancelled') FROM upd"};
  pqxx::work tx{conn};
  auto rows = sql(tx, leases_json(held).dump());
  int requeued = rows[0][0].as<int>();
  if (requeued > 0)
    runtime::notify_runners(tx, "released");
  tx.commit();
  wrote_events(rows[0][1].as<int>() > 0);
  return requeued;
}

// ---- the scheduler --------------------------------------------------------------------

namespace {

// Runs a rescue statement (attempt_ended_sql) and counts what it ended.
template <class... Params>
int run_rescue(pqxx::connection& conn, const runtime::statement& sql, Params&&... params) {
  pqxx::work tx{conn};
  pqxx::result rows = sql(tx, std::forward<Params>(params)...);
  int n = 0;
  for (const auto& r : rows)
    n += r[2].as<int>();
  if (n > 0)
    runtime::notify_runners(tx, "rescued");
  tx.commit();
  wrote_events(n > 0);
  for (const auto& r : rows)
    metrics::job_rescued(r[0].c_str(), r[2].as<std::int64_t>());
  return n;
}

} // namespace

int rescue_expired(pqxx::connection& conn) {
  static const runtime::statement sql{attempt_ended_sql(
      "ended AS (SELECT id FROM jobs WHERE status = 'running' AND lease_expires_at < now()"
      " ORDER BY lease_expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED)",
      "true", "now()", "'lease expired (owner ' || coalesce(j.lease_owner, '?') || ')'",
      "'lease expired'", ", 'attempt', attempt, 'error', 'lease expired', 'rescued', true")};
  return run_rescue(conn, sql);
}

int rescue_from_nodes(pqxx::connection& conn, const std::vector<std::string>& node_ids) {
  if (node_ids.empty())
    return 0;
  static const runtime::statement sql{attempt_ended_sql(
      "ended AS (SELECT id FROM jobs WHERE status = 'running'"
      " AND lease_owner IN (SELECT jsonb_array_elements_text($1::jsonb))"
      " FOR UPDATE SKIP LOCKED)",
      "true", "now()", "'node gone (owner ' || coalesce(j.lease_owner, '?') || ')'",
      "'node gone'", ", 'attempt', attempt, 'error', 'node gone', 'rescued', true")};
  return run_rescue(conn, sql, nlohmann::json(node_ids).dump());
}

// ---- clients --------------------------------------------------------------------------

std::optional<job_status> request_cancel(pqxx::transaction_base& tx, const std::string& job_id,
                                         const std::string& user_id) {
  static const runtime::statement sql{"WITH upd AS (UPDATE jobs SET cancel_requested = true, updated_at = now(),"
      "   status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,"
      "   completed_at = CASE WHEN status = 'queued' THEN now() ELSE completed_at END"
      "   WHERE id = $1 AND user_id = $2 AND status IN ('queued', 'running')"
      "   RETURNING id, status, user_id, playbook_id, kind),"
      " cancelled AS (SELECT * FROM upd WHERE status = 'cancelled'),"
      " ev AS (" + job_events_sql("cancelled", "'job.cancelled'") + ")"
      " SELECT status FROM upd"};
  auto rows = sql(tx, job_id, user_id);
  if (rows.empty())
    return std::nullopt;
  auto status = status_of(rows[0][0]);
  wrote_events(status == job_status::cancelled);
  return status;
}

bool retry(pqxx::transaction_base& tx, const std::string& job_id, const std::string& user_id,
           int more_attempts) {
  static const runtime::statement sql{"WITH upd AS (UPDATE jobs SET status = 'queued', run_after = now(),"
      "   max_attempts = attempt + $3, cancel_requested = false, error_message = NULL,"
      "   completed_at = NULL, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,"
      "   updated_at = now()"
      "   WHERE id = $1 AND user_id = $2 AND status IN ('failed', 'cancelled')"
      "   RETURNING id, user_id, playbook_id, kind),"
      " ev AS (" + job_events_sql("upd", "'job.retrying'", ", 'manual', true") + ")"
      " SELECT kind FROM upd"};
  pqxx::result rows;
  try {
    rows = sql(tx, job_id, user_id, more_attempts);
  } catch (const pqxx::unique_violation&) {
    throw conflict("another job of its kind is already queued or running for its playbook or "
                   "project");
  }
  if (rows.empty())
    return false;
  wrote_events(true);
  runtime::notify_runners(tx, rows[0][0].c_str());
  return true;
}

// ---- a job's records ------------------------------------------------------------------

void insert_rounds(pqxx::transaction_base& tx, const std::string& job_id, const json& rounds) {
  if (rounds.empty())
    return;
  static const runtime::statement sql{
      "INSERT INTO job_rounds (job_id, round_number, proposal, votes,"
      " aggregated_score, accepted, rejected)"
      " SELECT $1, x.round_number, x.proposal, x.votes, x.aggregated_score,"
      " x.accepted, x.rejected FROM jsonb_to_recordset($2::jsonb) AS x("
      " round_number int, proposal jsonb, votes jsonb, aggregated_score float8,"
      " accepted jsonb, rejected jsonb)"};
  sql(tx, job_id, rounds.dump());
}

} // namespace troupe::lifecycle
