#include "actors/critique/critique.hpp"

#include "actors/critique/plan_critique.hpp"
#include "messages/evolution.hpp"
#include "runtime/handlers.hpp"
#include "runtime/input.hpp"
#include "runtime/job_lifecycle.hpp"
#include "runtime/store.hpp"

#include <cmath>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <set>

namespace troupe::critique {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_goals = 50;
constexpr std::size_t max_steps = 200;
constexpr std::size_t max_goal_bytes = 2000;
constexpr std::size_t max_step_bytes = 4000;
constexpr std::size_t max_id_bytes = 64;

// ---- reading a critique request ---------------------------------------------------

std::vector<std::string> read_goals(const json& body) {
  std::vector<std::string> goals;
  if (auto one = input::string_field(body, "goal", {1, max_goal_bytes}, false))
    goals.push_back(*one);
  if (auto many = input::string_list_field(body, "goals", max_goals, max_goal_bytes))
    for (auto& g : *many) {
      if (g.empty())
        throw invalid_argument("goals", "goals must not contain empty strings");
      goals.push_back(g);
    }
  if (goals.empty())
    throw invalid_argument("goal", "give the plan's goal (goal) or goals (goals)");
  return goals;
}

std::vector<plan_step> read_steps(const json& body) {
  auto it = body.find("plan");
  if (it == body.end() || !it->is_array() || it->empty())
    throw invalid_argument("plan", "plan must be a non-empty array of steps {id, text, depends_on}");
  if (it->size() > max_steps)
    throw api_error(413, "payload_too_large", "plan has more than 200 steps", "plan");
  std::vector<plan_step> steps;
  std::set<std::string> ids;
  for (const auto& s : *it) {
    if (!s.is_object())
      throw invalid_argument("plan", "every step must be an object {id, text, depends_on}");
    input::only_fields(s, {"id", "text", "depends_on"});
    plan_step step;
    step.id = *input::string_field(s, "id", {1, max_id_bytes}, true);
    step.text = *input::string_field(s, "text", {1, max_step_bytes}, true);
    step.depends_on = input::string_list_field(s, "depends_on", 50, max_id_bytes)
                          .value_or(std::vector<std::string>{});
    if (!ids.insert(step.id).second)
      throw invalid_argument("plan", "step id '" + step.id + "' occurs more than once");
    steps.push_back(std::move(step));
  }
  for (const auto& s : steps)
    for (const auto& d : s.depends_on)
      if (!ids.count(d))
        throw invalid_argument("plan", "step '" + s.id + "' depends on unknown step '" + d + "'");
  if (auto cycle = dependency_cycle(steps)) {
    std::string named;
    for (const auto& id : *cycle)
      named += (named.empty() ? "'" : " -> '") + id + "'";
    throw invalid_argument("plan", "the steps' depends_on form a cycle: " + named);
  }
  return steps;
}

// A number in [0, 1].
double unit_number(const json& obj, const std::string& field) {
  auto it = obj.find(field);
  if (it == obj.end() || !it->is_number())
    throw invalid_argument(field, field + " must be a number from 0 to 1");
  double v = it->get<double>();
  if (!std::isfinite(v) || v < 0 || v > 1)
    throw invalid_argument(field, field + " must be a number from 0 to 1");
  return v;
}

} // namespace

critique_api_options options_from(const config::settings& s) {
  return {.max_attempts = s.jobs.max_attempts, .default_max_iterations = s.critique.max_iterations};
}

json read_critique_request(const api_request& req, const critique_api_options& opts) {
  auto body = input::object_body(req);
  input::only_fields(body,
                     {"goal", "goals", "plan", "max_iterations", "threshold", "weights"});
  auto goals = read_goals(body);
  auto steps = read_steps(body);
  auto iterations =
      input::int_field(body, "max_iterations", 1, 10, false).value_or(opts.default_max_iterations);
  double threshold = body.contains("threshold") ? unit_number(body, "threshold") : 0.5;
  json weights = {{"completeness", 0.4}, {"efficiency", 0.3}, {"safety", 0.3}};
  if (auto w = body.find("weights"); w != body.end()) {
    if (!w->is_object())
      throw invalid_argument("weights", "weights must be {completeness, efficiency, safety}");
    input::only_fields(*w, {"completeness", "efficiency", "safety"});
    for (auto k : {"completeness", "efficiency", "safety"})
      weights[k] = unit_number(*w, k);
    double sum = weights["completeness"].get<double>() + weights["efficiency"].get<double>() +
                 weights["safety"].get<double>();
    if (std::abs(sum - 1.0) > 0.001)
      throw invalid_argument("weights", "weights must sum to 1");
  }
  plan p{goals, steps};
  return {{"plan", to_json(p)},
          {"max_iterations", iterations},
          {"threshold", threshold},
          {"weights", weights}};
}

namespace {

// ---- handlers -----------------------------------------------------------------------

api_response create(pqxx::connection& conn, const api_request& req,
                    const critique_api_options& opts) {
  auto payload = read_critique_request(req, opts);
  pqxx::work tx{conn};
  auto id = lifecycle::enqueue(tx, {.kind = "critique",
                                    .user_id = req.caller.user_id,
                                    .playbook_id = {},
                                    .project_id = {},
                                    .max_attempts = opts.max_attempts,
                                    .payload = payload,
                                    .queued_topic = "critique.queued"});
  tx.commit();
  return json_response(202, {{"job_id", id}, {"status", "queued"}});
}

api_response get(pqxx::connection& conn, const api_request& req, const critique_api_options&) {
  auto id = input::uuid_param(req, 0, "job_id");
  pqxx::read_transaction tx{conn};
  auto rows = tx.exec_params(
      "SELECT json_build_object('id', id, 'kind', kind, 'status', status, 'attempt', attempt,"
      " 'max_attempts', max_attempts, 'progress', progress, 'payload', payload,"
      " 'result', result, 'error', error_message, 'errors', errors,"
      " 'created_at', rfc3339(created_at), 'started_at', rfc3339(started_at),"
      " 'completed_at', rfc3339(completed_at))::text"
      " FROM jobs WHERE id = $1 AND user_id = $2 AND kind = 'critique'",
      id, req.caller.user_id);
  if (rows.empty())
    throw not_found("critique");
  auto job = json::parse(rows[0][0].c_str());
  const auto& result = job["result"];
  job["iterations"] = result.is_object() ? result.value("iterations", json::array()) : json::array();
  job["final_plan"] = result.is_object() ? result.value("final_plan", json(nullptr)) : json(nullptr);
  job["converged_because"] =
      result.is_object() ? result.value("converged_because", json(nullptr)) : json(nullptr);
  return json_response(200, job);
}

const runtime::handler_table<critique_api_options>& handlers() {
  static const runtime::handler_table<critique_api_options> table = {
      {endpoint::create_critique, create},
      {endpoint::get_critique, get},
  };
  return table;
}

struct api_state {
  static inline const char* name = "troupe.critiques";
};

api_actor::behavior_type api(api_actor::stateful_pointer<api_state> self, store_actor store,
                             critique_api_options opts) {
  return {
      [=](api_request& req) {
        return self->delegate(store, runtime::handler_task(handlers(), std::move(req), opts));
      },
  };
}

// ---- the executor ---------------------------------------------------------------------

critique_config config_of(const json& payload) {
  critique_config cfg;
  cfg.max_iterations = payload.value("max_iterations", 3);
  cfg.voting.threshold = payload.value("threshold", 0.5);
  const auto& w = payload["weights"];
  cfg.voting.completeness = w.value("completeness", 0.4);
  cfg.voting.efficiency = w.value("efficiency", 0.3);
  cfg.voting.safety = w.value("safety", 0.3);
  return cfg;
}

// Commits a finished critique: its rounds and iteration events with the
// job's completion (lifecycle::complete). False when the lease is lost.
bool commit(pqxx::connection& conn, const job_assignment& job, const critique_result& result) {
  json iterations = json::array(), rounds = json::array();
  for (const auto& it : result.iterations) {
    auto j = to_json(it);
    iterations.push_back(j);
    json accepted = json::array(), rejected = json::array();
    for (const auto& f : it.feedback)
      (f.value("accepted", false) ? accepted : rejected).push_back(f["id"]);
    rounds.push_back({{"round_number", it.number},
                      {"proposal", {{"plan", j["plan"]}, {"feedback", it.feedback}}},
                      {"votes", it.feedback},
                      {"aggregated_score", it.aggregated_score},
                      {"accepted", accepted},
                      {"rejected", rejected}});
  }
  return lifecycle::complete(conn, job, [&](pqxx::work& tx, const std::string& user) {
    lifecycle::insert_rounds(tx, job.id, rounds);
    lifecycle::completion c;
    c.result = {{"iterations", iterations},
                {"final_plan", to_json(result.final_plan)},
                {"converged_because", result.converged_because}};
    c.progress = {{"step", "committed"}, {"iterations", iterations.size()}};
    c.event_data = {{"converged_because", result.converged_because}};
    for (const auto& it : iterations)
      c.events_before.push_back({"critique.iteration", user, "", job.id,
                                 {{"job_id", job.id},
                                  {"number", it["number"]},
                                  {"aggregated_score", it["aggregated_score"]}}});
    return c;
  });
}

struct executor_state {
  // Attempts in progress: job id → stop requested.
  std::map<std::string, bool> active;
  static inline const char* name = "troupe.critique";
};

using executor_pointer = job_executor_actor::stateful_pointer<executor_state>;

// One attempt on its way through the iterations.
struct attempt {
  job_assignment job;
  caf::typed_response_promise<job_result> promise;
  critique_config cfg;
  critique_run run;
};

using attempt_ptr = std::shared_ptr<attempt>;

void answer(executor_pointer self, const attempt_ptr& a, attempt_end status, std::string error = {},
            bool retryable = true) {
  self->state.active.erase(a->job.id);
  bool committed = status == attempt_end::completed;
  a->promise.deliver(job_result{a->job.id, a->job.lease_token, status, committed, retryable,
                                std::move(error), ""});
}

void commit_attempt(executor_pointer self, const store_actor& store, const attempt_ptr& a) {
  auto job = a->job;
  auto result = std::make_shared<const critique_result>(finish_run(a->run));
  runtime::store_call(
      self, store, job.id,
      [job, result](pqxx::connection& c) { return commit(c, job, *result); },
      [=](bool held) { answer(self, a, held ? attempt_end::completed : attempt_end::lost); },
      [=](caf::error& e) { answer(self, a, attempt_end::failed, message_of(e)); });
}

void iterate(executor_pointer self, const store_actor& store, const critique_panel& panel,
             const attempt_ptr& a);

// The voter decides the items the critics voted on, then the next iteration.
void decide(executor_pointer self, const store_actor& store, const critique_panel& panel,
            const attempt_ptr& a, evolution::vote_request req) {
  req.cfg = a->cfg.voting;
  self->request(panel.voter, caf::infinite, std::move(req))
      .then(
          [=](evolution::vote_result& result) {
            try {
              conclude_iteration(a->run, result.decisions, a->cfg);
            } catch (const std::exception& e) {
              return answer(self, a, attempt_end::failed, e.what());
            }
            iterate(self, store, panel, a);
          },
          [=](caf::error& e) {
            answer(self, a, attempt_end::failed, "voter failed: " + caf::to_string(e));
          });
}

// One iteration: the plan critics' finders propose items, the three critic
// actors vote on them in parallel, the voter actor decides them (the same
// critics and voter as evolution's).
void iterate(executor_pointer self, const store_actor& store, const critique_panel& panel,
             const attempt_ptr& a) {
  if (self->state.active[a->job.id])
    return answer(self, a, attempt_end::cancelled);
  if (!next_iteration(a->run, a->cfg))
    return commit_attempt(self, store, a);
  auto req = std::make_shared<evolution::vote_request>();
  auto waiting = std::make_shared<int>(3);
  auto failed = std::make_shared<bool>(false);
  plan_review review{a->run.current, a->run.items};
  const std::pair<const evolution::critic_actor*, evolution::critic_votes*> critics[] = {
      {&panel.completeness, &req->completeness},
      {&panel.efficiency, &req->efficiency},
      {&panel.safety, &req->safety}};
  for (const auto& entry : critics) {
    auto* slot = entry.second; // a named copy: clang 14 cannot capture a structured binding
    self->request(*entry.first, caf::infinite, review)
        .then(
            [=](evolution::critic_votes& v) {
              if (*failed)
                return;
              if (v.votes.size() != a->run.items.size()) {
                *failed = true;
                return answer(self, a, attempt_end::failed,
                              "critic " + v.perspective + " answered " +
                                  std::to_string(v.votes.size()) + " votes for " +
                                  std::to_string(a->run.items.size()) + " items");
              }
              *slot = std::move(v);
              if (--*waiting == 0) {
                for (std::size_t i = 0; i < a->run.items.size(); ++i)
                  a->run.item_votes.push_back({req->completeness.votes[i], req->efficiency.votes[i],
                                               req->safety.votes[i]});
                decide(self, store, panel, a, std::move(*req));
              }
            },
            [=](caf::error& e) {
              if (!*failed) {
                *failed = true;
                answer(self, a, attempt_end::failed, "critic failed: " + caf::to_string(e));
              }
            });
  }
}

job_executor_actor::behavior_type executor(executor_pointer self, store_actor store,
                                           critique_panel panel) {
  return {
      [=](job_assignment& job) -> caf::result<job_result> {
        auto a = std::make_shared<attempt>();
        a->promise = self->make_response_promise<job_result>();
        a->job = std::move(job);
        self->state.active[a->job.id] = false;
        try {
          auto payload = json::parse(a->job.payload);
          a->cfg = config_of(payload);
          a->run = start_run(plan_from_json(payload["plan"]));
        } catch (const std::exception& e) {
          answer(self, a, attempt_end::failed,
               std::string("unreadable critique payload: ") + e.what(), false);
          return a->promise;
        }
        iterate(self, store, panel, a);
        return a->promise;
      },
      // Honoured between iterations.
      [=](stop_job_atom, const std::string& id) {
        if (auto it = self->state.active.find(id); it != self->state.active.end())
          it->second = true;
      },
  };
}

} // namespace

api_actor spawn_critique_api(caf::actor_system& sys, store_actor store, critique_api_options opts) {
  return sys.spawn(api, std::move(store), opts);
}

job_executor_actor spawn_critique_executor(caf::actor_system& sys, store_actor store,
                                           critique_panel panel) {
  return sys.spawn(executor, std::move(store), std::move(panel));
}

} // namespace troupe::critique
