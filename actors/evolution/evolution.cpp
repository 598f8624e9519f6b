#include "actors/evolution/evolution.hpp"

#include "actors/evolution/reflection.hpp"
#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/job_queue.hpp"
#include "runtime/log.hpp"

#include <pqxx/pqxx>
#include <map>

namespace troupe::evolution {
namespace {

using json = nlohmann::json;

// ---- step 1: snapshot ------------------------------------------------------

api_response load_snapshot(pqxx::connection& conn, const job_assignment& job, int max_outcomes) {
  pqxx::read_transaction tx{conn};
  auto fence = tx.exec_params("SELECT 1 FROM jobs WHERE id = $1 AND status = 'running'"
                              " AND lease_token = $2",
                              job.id, job.lease_token);
  if (fence.empty())
    return json_response(200, {{"lost", true}});
  auto pb = tx.exec_params(
      "SELECT p.current_version_id, coalesce(v.content, ''), coalesce(v.version_number, 0)"
      " FROM playbooks p LEFT JOIN playbook_versions v ON v.id = p.current_version_id"
      " WHERE p.id = $1",
      job.playbook_id);
  if (pb.empty())
    throw std::runtime_error("the job's playbook no longer exists");
  auto rows = tx.exec_params(
      "SELECT json_build_object('id', id, 'outcome', outcome_status, 'notes', coalesce(notes, ''),"
      " 'reasoning_trace', coalesce(reasoning_trace, ''), 'bullet_ids', bullet_ids)::text"
      " FROM outcomes WHERE playbook_id = $1 AND processed_at IS NULL ORDER BY id LIMIT $2",
      job.playbook_id, max_outcomes);
  json outcomes = json::array();
  for (const auto& r : rows)
    outcomes.push_back(json::parse(r[0].c_str()));
  return json_response(200, {{"lost", false},
                             {"version_id", pb[0][0].is_null() ? json(nullptr)
                                                               : json(pb[0][0].c_str())},
                             {"content", pb[0][1].c_str()},
                             {"version_number", pb[0][2].as<int>()},
                             {"outcomes", outcomes}});
}

// ---- steps 2 and 3: reflect and count ----------------------------------------

struct evolution_plan {
  json snapshot;
  std::vector<reflection> reflections;
  std::string new_content; // canonical text after counting
  bool changed = false;
  int increments = 0;
  std::string diff_summary;
};

std::string counter_summary(const playbook::document& before, const playbook::document& after) {
  auto d = playbook::diff(before, after);
  std::string out;
  std::size_t shown = 0;
  for (const auto& c : d.changed) {
    if (shown == 10)
      break;
    std::string part = c.id;
    auto h = c.to.helpful - c.from.helpful, x = c.to.harmful - c.from.harmful;
    part += " (";
    if (h)
      part += "+" + std::to_string(h) + " helpful";
    if (h && x)
      part += ", ";
    if (x)
      part += "+" + std::to_string(x) + " harmful";
    part += ")";
    out += (out.empty() ? "counters: " : ", ") + part;
    ++shown;
  }
  if (d.changed.size() > shown)
    out += ", …and " + std::to_string(d.changed.size() - shown) + " more";
  return out;
}

evolution_plan plan(json snapshot) {
  evolution_plan p;
  auto content = snapshot["content"].get<std::string>();
  auto before = playbook::parse(content);
  auto doc = before;
  for (const auto& o : snapshot["outcomes"]) {
    outcome_record rec{o["id"], o["outcome"], o["notes"], o["reasoning_trace"],
                       o["bullet_ids"].get<std::vector<std::string>>()};
    p.reflections.push_back(reflect(rec, doc));
  }
  p.increments = apply_tags(doc, p.reflections);
  p.new_content = playbook::print(doc);
  p.changed = p.new_content != playbook::print(before);
  if (p.changed)
    p.diff_summary = counter_summary(before, doc);
  p.snapshot = std::move(snapshot);
  return p;
}

// ---- step 9: commit -----------------------------------------------------------

api_response commit(pqxx::connection& conn, const job_assignment& job, const evolution_plan& p,
                    int max_attempts) {
  pqxx::work tx{conn};
  auto fence = tx.exec_params("SELECT user_id FROM jobs WHERE id = $1 AND status = 'running'"
                              " AND lease_token = $2 FOR UPDATE",
                              job.id, job.lease_token);
  if (fence.empty())
    return json_response(200, {{"lost", true}});
  auto pb = tx.exec_params(
      "SELECT current_version_id, pending_outcomes, evolution_threshold, next_bullet_id,"
      " coalesce((SELECT max(version_number) FROM playbook_versions WHERE playbook_id = $1), 0),"
      " status FROM playbooks WHERE id = $1 FOR UPDATE",
      job.playbook_id);
  const auto& snap = p.snapshot;
  std::string current = pb[0][0].is_null() ? "" : pb[0][0].c_str();
  std::string seen = snap["version_id"].is_null() ? "" : snap["version_id"].get<std::string>();
  if (current != seen)
    throw api_error(409, "conflict", "the playbook got a new version during the evolution");

  std::optional<std::string> to_version_id;
  int to_number = 0;
  if (p.changed) {
    auto doc = playbook::parse(p.new_content);
    to_version_id = crypto::uuid_v7();
    to_number = pb[0][4].as<int>() + 1;
    tx.exec_params("INSERT INTO playbook_versions (id, playbook_id, version_number, content,"
                   " bullet_count, token_estimate, created_by_job_id, diff_summary)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                   *to_version_id, job.playbook_id, to_number, p.new_content,
                   playbook::bullet_count(doc), playbook::token_estimate(doc), job.id,
                   p.diff_summary);
  }

  json processed = json::array();
  for (std::size_t i = 0; i < p.reflections.size(); ++i)
    processed.push_back(
        {{"id", snap["outcomes"][i]["id"]}, {"reflection", to_json(p.reflections[i])}});
  auto marked = tx.exec_params(
      "UPDATE outcomes o SET processed_at = now(), evolution_job_id = $2,"
      " reflection_data = x.reflection FROM jsonb_to_recordset($1::jsonb)"
      " AS x(id uuid, reflection jsonb) WHERE o.id = x.id AND o.processed_at IS NULL"
      " RETURNING o.id",
      processed.dump(), job.id);
  int n = static_cast<int>(marked.size());
  auto after = tx.exec_params(
      "UPDATE playbooks SET pending_outcomes = pending_outcomes - $2, last_evolved_at = now(),"
      " current_version_id = coalesce($3::uuid, current_version_id),"
      " updated_at = CASE WHEN $3::uuid IS NULL THEN updated_at ELSE now() END"
      " WHERE id = $1 RETURNING pending_outcomes, evolution_threshold, user_id",
      job.playbook_id, n, to_version_id);
  json result = {{"outcomes_processed", n},
                 {"counter_updates", p.increments},
                 {"to_version", to_version_id ? json(to_number) : json(nullptr)},
                 {"diff_summary", p.changed ? json(p.diff_summary) : json(nullptr)}};
  tx.exec_params("UPDATE jobs SET status = 'completed', completed_at = now(), updated_at = now(),"
                 " lease_owner = NULL, lease_expires_at = NULL, outcomes_processed = $2,"
                 " from_version_id = $3::uuid, to_version_id = $4::uuid, result = $5::jsonb,"
                 " progress = jsonb_build_object('step', 'committed')"
                 " WHERE id = $1",
                 job.id, n, seen.empty() ? std::optional<std::string>{} : seen, to_version_id,
                 result.dump());
  std::string user = after[0][2].c_str();
  std::vector<runtime::event_row> events{
      {"job.completed", user, job.playbook_id, job.id,
       {{"job_id", job.id}, {"kind", "evolution"}, {"playbook_id", job.playbook_id},
        {"result", result}}}};
  if (to_version_id)
    events.push_back({"playbook.version_created", user, job.playbook_id, job.id,
                      {{"playbook_id", job.playbook_id},
                       {"version", to_number},
                       {"job_id", job.id},
                       {"diff_summary", p.diff_summary}}});
  runtime::insert_events(tx, events);
  // The ingestion rule runs again: a backlog already over the threshold
  // queues the next evolution at once.
  int pending = after[0][0].as<int>();
  if (pending >= after[0][1].as<int>() && pending > 0 && std::string{pb[0][5].c_str()} == "active")
    runtime::enqueue_evolution(tx, user, job.playbook_id, max_attempts, "backlog", pending);
  tx.commit();
  return json_response(200, {{"lost", false}, {"result", result}});
}

// ---- the actor ------------------------------------------------------------------

struct evolution_state {
  // Attempts in progress: job id → (lease token, stop requested). A stop for
  // an attempt that is not in progress is ignored, so a stop that crosses an
  // attempt's answer can never hit a later attempt of the same job.
  std::map<std::string, std::pair<std::string, bool>> active;
  static inline const char* name = "troupe.evolution";
};

using evolution_pointer = job_executor_actor::stateful_pointer<evolution_state>;
using promise_t = caf::typed_response_promise<job_result>;

job_result result_of(const job_assignment& job, const std::string& status,
                     std::string error = {}, bool retryable = true) {
  return {job.id, job.lease_token, status, status == "completed", retryable, std::move(error), ""};
}

// Answers the attempt and forgets it.
void answer(evolution_pointer self, promise_t& promise, const job_assignment& job,
            job_result r) {
  self->state.active.erase(job.id);
  promise.deliver(std::move(r));
}

void fail(evolution_pointer self, promise_t& promise, const job_assignment& job,
          const api_response& r) {
  auto body = json::parse(r.body, nullptr, false);
  std::string message = body.is_object() && body.contains("error")
                            ? body["error"].value("message", "error")
                            : "status " + std::to_string(r.status);
  answer(self, promise, job, result_of(job, "failed", message, true));
}

// Checks for a stop request between steps; answers and returns true if there was one.
bool stopped(evolution_pointer self, promise_t& promise, const job_assignment& job) {
  auto it = self->state.active.find(job.id);
  if (it == self->state.active.end() || !it->second.second)
    return false;
  answer(self, promise, job, result_of(job, "cancelled"));
  return true;
}

job_executor_actor::behavior_type evolution_actor(evolution_pointer self, store_actor store,
                                                  evolution_options opts) {
  return {
      [=](job_assignment& job) -> caf::result<job_result> {
        auto promise = self->make_response_promise<job_result>();
        self->state.active[job.id] = {job.lease_token, false};
        int max_outcomes = opts.max_outcomes_per_job;
        auto on_error = [=](caf::error& e) mutable {
          answer(self, promise, job,
                 result_of(job, "failed", "store failed: " + caf::to_string(e), true));
        };
        self->request(store, caf::infinite,
                      db_task{[job, max_outcomes](pqxx::connection& c) {
                                return load_snapshot(c, job, max_outcomes);
                              },
                              job.id})
            .then(
                [=](api_response& r) mutable {
                  if (r.status != 200)
                    return fail(self, promise, job, r);
                  auto snapshot = json::parse(r.body);
                  if (snapshot["lost"].get<bool>())
                    return answer(self, promise, job, result_of(job, "lost"));
                  if (stopped(self, promise, job))
                    return;
                  auto p = std::make_shared<evolution_plan>(plan(std::move(snapshot)));
                  if (stopped(self, promise, job))
                    return;
                  int attempts = opts.max_attempts;
                  self->request(store, caf::infinite,
                                db_task{[job, p, attempts](pqxx::connection& c) {
                                          return commit(c, job, *p, attempts);
                                        },
                                        job.id})
                      .then(
                          [=](api_response& c) mutable {
                            if (c.status != 200)
                              return fail(self, promise, job, c);
                            auto body = json::parse(c.body);
                            answer(self, promise, job,
                                   result_of(job, body["lost"].get<bool>() ? "lost" : "completed"));
                          },
                          on_error);
                },
                on_error);
        return promise;
      },
      [=](stop_job_atom, const std::string& id) {
        if (auto it = self->state.active.find(id); it != self->state.active.end())
          it->second.second = true;
      },
  };
}

} // namespace

job_executor_actor spawn_evolution(caf::actor_system& sys, store_actor store,
                                   evolution_options opts) {
  return sys.spawn(evolution_actor, std::move(store), opts);
}

} // namespace troupe::evolution
