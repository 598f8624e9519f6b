#include "actors/jobs/jobs_api.hpp"

#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/handlers.hpp"
#include "runtime/input.hpp"
#include "actors/playbooks/playbooks.hpp"
#include "runtime/job_lifecycle.hpp"

#include <pqxx/pqxx>

namespace troupe::jobs {
namespace {

using json = nlohmann::json;

constexpr const char* job_fields =
    "'id', j.id, 'kind', j.kind, 'status', j.status, 'playbook_id', j.playbook_id,"
    " 'project_id', j.project_id, 'priority', j.priority, 'attempt', j.attempt,"
    " 'max_attempts', j.max_attempts, 'progress', j.progress, 'payload', j.payload,"
    " 'from_version', fv.version_number, 'to_version', tv.version_number,"
    " 'outcomes_processed', j.outcomes_processed, 'token_totals', j.token_totals,"
    " 'result', j.result, 'error', j.error_message, 'errors', j.errors,"
    " 'cancel_requested', j.cancel_requested, 'run_after', rfc3339(j.run_after),"
    " 'created_at', rfc3339(j.created_at), 'started_at', rfc3339(j.started_at),"
    " 'completed_at', rfc3339(j.completed_at)";

constexpr const char* job_joins =
    " FROM jobs j LEFT JOIN playbook_versions fv ON fv.id = j.from_version_id"
    " LEFT JOIN playbook_versions tv ON tv.id = j.to_version_id";

constexpr const char* rounds_field =
    ", 'rounds', coalesce((SELECT json_agg(json_build_object('number', r.round_number,"
    " 'proposal', r.proposal, 'votes', r.votes, 'aggregated_score', r.aggregated_score,"
    " 'accepted', r.accepted, 'rejected', r.rejected, 'created_at', rfc3339(r.created_at))"
    " ORDER BY r.round_number) FROM job_rounds r WHERE r.job_id = j.id), '[]'::json)";

json fetch_job(pqxx::transaction_base& tx, const std::string& id, const std::string& user) {
  auto rows = tx.exec_params(std::string{"SELECT json_build_object("} + job_fields + rounds_field +
                                 ")::text" + job_joins + " WHERE j.id = $1 AND j.user_id = $2",
                             id, user);
  if (rows.empty())
    throw not_found("job");
  return json::parse(rows[0][0].c_str());
}

// Lists the caller's jobs newest first; `playbook` and `kind` narrow it.
json list(pqxx::transaction_base& tx, const api_request& req, const std::optional<std::string>& kind,
          const std::optional<std::string>& playbook) {
  auto status =
      input::enum_query(req, "status", {"queued", "running", "completed", "failed", "cancelled"});
  int limit = input::limit_query(req);
  auto cursor = input::cursor_query(req);
  if (cursor && !crypto::is_uuid(*cursor))
    throw invalid_argument("cursor", "cursor is not one this server issued");
  auto rows = tx.exec_params(
      std::string{"SELECT json_build_object("} + job_fields + ")::text, j.id" + job_joins +
          " WHERE j.user_id = $1 AND ($2::text IS NULL OR j.kind = $2)"
          " AND ($3::text IS NULL OR j.status = $3) AND ($4::uuid IS NULL OR j.playbook_id = $4)"
          " AND ($5::uuid IS NULL OR j.id < $5::uuid) ORDER BY j.id DESC LIMIT $6",
      req.caller.user_id, kind, status, playbook, cursor, limit + 1);
  return input::page(rows, limit);
}

// ---- handlers ------------------------------------------------------------------------

api_response trigger(pqxx::connection& conn, const api_request& req, const jobs_options& opts) {
  auto id = input::uuid_param(req, 0, "id");
  bool force = false;
  if (!req.body.empty()) {
    auto body = input::object_body(req);
    input::only_fields(body, {"force"});
    force = input::bool_field(body, "force").value_or(false);
  }
  pqxx::work tx{conn};
  auto pb = tx.exec_params("SELECT status, pending_outcomes FROM playbooks"
                           " WHERE id = $1 AND user_id = $2 FOR UPDATE",
                           id, req.caller.user_id);
  if (pb.empty())
    throw not_found("playbook");
  auto answer = [](const lifecycle::enqueued& e) {
    return json_response(202, {{"job_id", e.job_id}, {"is_new", e.is_new}, {"status", to_string(e.status)}});
  };
  if (auto active = lifecycle::active_evolution(tx, id))
    return answer(*active);
  if (std::string{pb[0][0].c_str()} != "active")
    throw conflict("the playbook is archived");
  int pending = pb[0][1].as<int>();
  if (pending == 0 && !force)
    throw api_error(422, "unprocessable",
                    "the playbook has no pending outcomes; send {\"force\": true} to evolve anyway");
  auto window = tx.exec_params(
      "SELECT count(*), coalesce(ceil(extract(epoch FROM min(created_at) + interval '1 hour'"
      " - now())), 0) FROM jobs WHERE playbook_id = $1 AND kind = 'evolution'"
      " AND payload->>'trigger' = 'manual' AND created_at > now() - interval '1 hour'",
      id);
  if (window[0][0].as<long long>() >= opts.manual_triggers_per_hour) {
    api_error e{429, "rate_limited",
                "at most " + std::to_string(opts.manual_triggers_per_hour) +
                    " manual evolutions per playbook per hour"};
    auto r = error_response(e, req.request_id);
    r.headers["Retry-After"] = std::to_string(std::max(1LL, window[0][1].as<long long>()));
    return r;
  }
  auto job = lifecycle::enqueue_evolution(tx, req.caller.user_id, id, opts.max_attempts, "manual",
                                          pending);
  tx.commit();
  return answer(job);
}

api_response list_evolutions(pqxx::connection& conn, const api_request& req,
                             const jobs_options&) {
  auto id = input::uuid_param(req, 0, "id");
  pqxx::read_transaction tx{conn};
  playbooks::require_owned(tx, id, req.caller.user_id);
  return json_response(200, list(tx, req, std::string{"evolution"}, id));
}

api_response get_job(pqxx::connection& conn, const api_request& req, const jobs_options&) {
  auto id = input::uuid_param(req, 0, "id");
  pqxx::read_transaction tx{conn};
  return json_response(200, fetch_job(tx, id, req.caller.user_id));
}

api_response list_jobs(pqxx::connection& conn, const api_request& req, const jobs_options&) {
  auto kind = input::enum_query(req, "kind", {"evolution", "critique", "repository_analysis", "noop"});
  std::optional<std::string> playbook;
  if (auto it = req.query.find("playbook_id"); it != req.query.end()) {
    if (!crypto::is_uuid(it->second))
      throw invalid_argument("playbook_id", "playbook_id must be a UUID");
    playbook = it->second;
  }
  pqxx::read_transaction tx{conn};
  return json_response(200, list(tx, req, kind, playbook));
}

// The caller's jobs at a glance (the dashboard's overview): by kind the
// queued, running, and failed and completed in the last 24 h; the oldest
// queued job's age; and per minute of the last hour the jobs completed and
// failed in it and the queue depth at its end (created by then, not yet
// started or finished). Only jobs still queued or finished within the hour
// can count toward the series.
api_response job_stats(pqxx::connection& conn, const api_request& req, const jobs_options&) {
  pqxx::read_transaction tx{conn};
  auto rows = tx.exec_params(
      "WITH mine AS (SELECT kind, status, created_at, started_at, completed_at FROM jobs"
      "  WHERE user_id = $1),"
      " recent AS (SELECT * FROM mine WHERE completed_at IS NULL"
      "  OR completed_at > now() - interval '61 minutes'),"
      " minutes AS (SELECT t, t + interval '1 minute' AS e FROM generate_series("
      "  date_trunc('minute', now()) - interval '59 minutes', date_trunc('minute', now()),"
      "  interval '1 minute') AS t)"
      " SELECT json_build_object("
      " 'by_kind', (SELECT coalesce(json_object_agg(kind, json_build_object("
      "   'queued', queued, 'running', running, 'failed_24h', failed, 'completed_24h', completed)),"
      "   '{}'::json) FROM (SELECT kind,"
      "   count(*) FILTER (WHERE status = 'queued') AS queued,"
      "   count(*) FILTER (WHERE status = 'running') AS running,"
      "   count(*) FILTER (WHERE status = 'failed' AND completed_at > now() - interval '24 hours') AS failed,"
      "   count(*) FILTER (WHERE status = 'completed' AND completed_at > now() - interval '24 hours')"
      "   AS completed FROM mine GROUP BY kind) k),"
      " 'oldest_queued_age_s', (SELECT coalesce(floor(extract(epoch FROM now() - min(created_at))), 0)"
      "   FROM mine WHERE status = 'queued'),"
      " 'per_minute', (SELECT json_agg(json_build_object('at', rfc3339(m.t), 'completed', c.completed,"
      "   'failed', c.failed, 'queued', c.queued) ORDER BY m.t)"
      "   FROM minutes m CROSS JOIN LATERAL (SELECT"
      "   count(*) FILTER (WHERE r.status = 'completed' AND r.completed_at >= m.t"
      "     AND r.completed_at < m.e) AS completed,"
      "   count(*) FILTER (WHERE r.status = 'failed' AND r.completed_at >= m.t"
      "     AND r.completed_at < m.e) AS failed,"
      "   count(*) FILTER (WHERE r.created_at < m.e AND (r.started_at IS NULL OR r.started_at >= m.e)"
      "     AND (r.completed_at IS NULL OR r.completed_at >= m.e)) AS queued"
      "   FROM recent r) c))::text",
      req.caller.user_id);
  return json_response(200, json::parse(rows[0][0].c_str()));
}

// 404 when the caller has no such job, else 409 with `why`.
[[noreturn]] void refuse(pqxx::transaction_base& tx, const std::string& id,
                         const std::string& user, const std::string& why) {
  auto rows = tx.exec_params("SELECT status FROM jobs WHERE id = $1 AND user_id = $2", id, user);
  if (rows.empty())
    throw not_found("job");
  throw conflict(why + " (the job is " + rows[0][0].c_str() + ")");
}

api_response cancel(pqxx::connection& conn, const api_request& req, const jobs_options&) {
  auto id = input::uuid_param(req, 0, "id");
  pqxx::work tx{conn};
  if (!lifecycle::request_cancel(tx, id, req.caller.user_id))
    refuse(tx, id, req.caller.user_id, "only queued or running jobs can be cancelled");
  auto out = fetch_job(tx, id, req.caller.user_id);
  tx.commit();
  return json_response(200, out);
}

api_response retry(pqxx::connection& conn, const api_request& req, const jobs_options& opts) {
  auto id = input::uuid_param(req, 0, "id");
  pqxx::work tx{conn};
  if (!lifecycle::retry(tx, id, req.caller.user_id, opts.max_attempts))
    refuse(tx, id, req.caller.user_id, "only failed or cancelled jobs can be retried");
  auto out = fetch_job(tx, id, req.caller.user_id);
  tx.commit();
  return json_response(200, out);
}

const runtime::handler_table<jobs_options>& handlers() {
  static const runtime::handler_table<jobs_options> table = {
      {endpoint::trigger_evolution, trigger},
      {endpoint::list_evolutions, list_evolutions},
      {endpoint::get_job, get_job},
      {endpoint::list_jobs, list_jobs},
      {endpoint::job_stats, job_stats},
      {endpoint::cancel_job, cancel},
      {endpoint::retry_job, retry},
  };
  return table;
}

struct jobs_state {
  static inline const char* name = "troupe.jobs";
};

api_actor::behavior_type jobs_actor(api_actor::stateful_pointer<jobs_state> self,
                                    store_actor store, jobs_options opts) {
  return {
      [=](api_request& req) {
        return self->delegate(store, runtime::handler_task(handlers(), std::move(req), opts));
      },
  };
}

} // namespace

api_actor spawn_jobs_api(caf::actor_system& sys, store_actor store, jobs_options opts) {
  return sys.spawn(jobs_actor, std::move(store), opts);
}

} // namespace troupe::jobs
