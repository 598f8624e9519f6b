#include "actors/evolution/evolution.hpp"

#include "messages/errors.hpp"
#include "runtime/blocking.hpp"
#include "runtime/crypto.hpp"
#include "runtime/store.hpp"
#include "runtime/job_lifecycle.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"

#include <pqxx/pqxx>
#include <array>
#include <functional>
#include <map>
#include <memory>

namespace troupe::evolution {
namespace {

using json = nlohmann::json;

// ---- step 1: snapshot ------------------------------------------------------

// What the attempt read, under the fence.
struct snapshot {
  std::optional<std::string> version_id; // the current version, none for a new playbook
  snapshot_data data;
};

// nullopt when the lease is lost. One statement (one snapshot of the
// database, one round trip): the playbook, its current version and its
// oldest pending outcomes, read only while the attempt holds its job.
std::optional<snapshot> load_snapshot(pqxx::connection& conn, const job_assignment& job,
                                      int max_outcomes) {
  static const runtime::statement sql{
      "SELECT p.id IS NOT NULL, p.current_version_id, coalesce(v.content, ''),"
      " p.next_bullet_id, (SELECT coalesce(json_agg(json_build_array(o.id, o.outcome_status,"
      " coalesce(o.notes, ''), coalesce(o.reasoning_trace, ''), o.bullet_ids,"
      " coalesce(o.task_description, '')) ORDER BY o.id), '[]')::text FROM (SELECT * FROM outcomes"
      " WHERE playbook_id = p.id AND processed_at IS NULL ORDER BY id LIMIT $3) o)"
      " FROM " + lifecycle::fenced_from() +
      " LEFT JOIN playbooks p ON p.id = $2"
      " LEFT JOIN playbook_versions v ON v.id = p.current_version_id"};
  pqxx::nontransaction tx{conn};
  auto rows = sql(tx, lifecycle::lease_parameter(job), job.playbook_id, max_outcomes);
  if (rows.empty())
    return std::nullopt;
  const auto& r = rows[0];
  if (!r[0].as<bool>())
    throw std::runtime_error("the job's playbook no longer exists");
  snapshot snap;
  if (!r[1].is_null())
    snap.version_id = r[1].c_str();
  snap.data.content = r[2].c_str();
  snap.data.next_bullet_id = r[3].as<std::int64_t>();
  for (const auto& o : json::parse(r[4].c_str()))
    snap.data.outcomes.push_back({o[0].get<std::string>(), o[1].get<std::string>(),
                                  o[2].get<std::string>(), o[3].get<std::string>(),
                                  o[4].is_null() ? std::vector<std::string>{}
                                                 : o[4].get<std::vector<std::string>>(),
                                  o[5].get<std::string>()});
  return snap;
}

// ---- steps 2–8 run in the pipeline -----------------------------------------

// One job's way through the pipeline.
struct run_state {
  snapshot snap;
  evolution_plan plan;
  bool llm = false;   // the llm engine reflected and curated
  usage_tally usage;  // model use by the engine and the llm critics
};

// ---- step 9: commit -----------------------------------------------------------

// The usage records of the attempt's model calls, and its token totals.
json record_usage(pqxx::work& tx, const job_assignment& job, const std::string& user,
                  const usage_tally& usage, json& result) {
  std::int64_t prompt = 0, completion = 0;
  double cost = 0;
  int calls = 0, invalid = 0, fallbacks = 0;
  json records = json::array();
  for (const auto& u : usage.entries()) {
    prompt += u.prompt_tokens;
    completion += u.completion_tokens;
    cost += u.cost_usd;
    calls += u.calls;
    invalid += u.invalid_answers;
    fallbacks += u.fallbacks;
    if (u.calls)
      records.push_back({{"operation", u.operation},
                         {"model", u.model.empty() ? "unknown" : u.model},
                         {"prompt_tokens", u.prompt_tokens},
                         {"completion_tokens", u.completion_tokens},
                         {"cost_usd", u.cost_usd},
                         {"metadata", {{"valid", u.invalid_answers == 0}}}});
  }
  if (!records.empty())
    runtime::statement{
        "INSERT INTO usage_records (user_id, playbook_id, job_id, operation, model, prompt_tokens,"
        " completion_tokens, total_tokens, cost_usd, metadata)"
        " SELECT $1, $2, $3, x.operation, x.model, x.prompt_tokens, x.completion_tokens,"
        " x.prompt_tokens + x.completion_tokens, x.cost_usd, x.metadata"
        " FROM jsonb_to_recordset($4::jsonb) AS x(operation text, model text, prompt_tokens int,"
        " completion_tokens int, cost_usd numeric, metadata jsonb)"}(
        tx, user, job.playbook_id, job.id, records.dump());
  if (calls || fallbacks)
    result["llm"] = {{"calls", calls}, {"invalid_answers", invalid}, {"fallbacks", fallbacks}};
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion},
          {"cost_usd", cost}};
}

// The new version, the processed outcomes, the rounds and the usage, with
// the job's completion (lifecycle::complete). False when the lease is lost;
// errc::conflict when the playbook got a version meanwhile.
bool commit(pqxx::connection& conn, const job_assignment& job, const run_state& run,
            int max_attempts, const std::vector<json>& last_steps) {
  return lifecycle::complete(conn, job, [&](pqxx::work& tx, const std::string& user) {
    const auto& p = run.plan;
    const auto& snap = run.snap;
    static const runtime::statement lock_sql{
        "SELECT current_version_id,"
        " coalesce((SELECT max(version_number) FROM playbook_versions WHERE playbook_id = $1), 0),"
        " status FROM playbooks WHERE id = $1 FOR UPDATE"};
    auto pb = lock_sql(tx, job.playbook_id);
    std::optional<std::string> current;
    if (!pb[0][0].is_null())
      current = pb[0][0].c_str();
    if (current != snap.version_id)
      throw conflict("the playbook got a new version during the evolution");

    std::optional<std::string> to_version_id;
    std::optional<int> to_number, bullets, tokens;
    if (p.changed) {
      auto doc = playbook::parse(p.new_content);
      to_version_id = crypto::uuid_v7();
      to_number = pb[0][1].as<int>() + 1;
      bullets = playbook::bullet_count(doc);
      tokens = playbook::token_estimate(doc);
    }

    json processed = json::array();
    for (std::size_t i = 0; i < p.reflections.size(); ++i)
      processed.push_back(
          {{"id", snap.data.outcomes[i].id}, {"reflection", to_json(p.reflections[i])}});
    json rounds = json::array();
    for (const auto& r : p.rounds)
      rounds.push_back({{"round_number", r["number"]},
                        {"proposal", r["proposal"]},
                        {"votes", r["votes"]},
                        {"aggregated_score", r["aggregated_score"]},
                        {"accepted", r["accepted"]},
                        {"rejected", r["rejected"]}});
    // The new version (when the content changed), the processed outcomes,
    // the rounds and the playbook's counters: one statement. The playbook's
    // pointer to the version is checked at commit (a deferred key).
    static const runtime::statement write_sql{
        "WITH version AS (INSERT INTO playbook_versions (id, playbook_id, version_number, content,"
        " bullet_count, token_estimate, created_by_job_id, diff_summary)"
        " SELECT $3::uuid, $1, $4, $5, $6, $7, $2, $8 WHERE $3::uuid IS NOT NULL),"
        " marked AS (UPDATE outcomes o SET processed_at = now(), evolution_job_id = $2,"
        " reflection_data = x.reflection FROM jsonb_to_recordset($9::jsonb)"
        " AS x(id uuid, reflection jsonb) WHERE o.id = x.id AND o.processed_at IS NULL"
        " RETURNING o.id),"
        " rounds AS (INSERT INTO job_rounds (job_id, round_number, proposal, votes,"
        " aggregated_score, accepted, rejected)"
        " SELECT $2, x.round_number, x.proposal, x.votes, x.aggregated_score, x.accepted,"
        " x.rejected FROM jsonb_to_recordset($11::jsonb) AS x(round_number int, proposal jsonb,"
        " votes jsonb, aggregated_score float8, accepted jsonb, rejected jsonb)),"
        " n AS (SELECT count(*)::int AS n FROM marked)"
        " UPDATE playbooks SET pending_outcomes = pending_outcomes - n.n, last_evolved_at = now(),"
        " current_version_id = coalesce($3::uuid, current_version_id),"
        " next_bullet_id = greatest(next_bullet_id, $10),"
        " updated_at = CASE WHEN $3::uuid IS NULL THEN updated_at ELSE now() END"
        " FROM n WHERE id = $1 RETURNING pending_outcomes, evolution_threshold, n.n"};
    auto after = write_sql(
        tx, job.playbook_id, job.id, to_version_id, to_number,
        p.changed ? std::optional<std::string>{p.new_content} : std::nullopt, bullets, tokens,
        p.changed ? std::optional<std::string>{p.diff_summary} : std::nullopt, processed.dump(),
        p.next_id, rounds.dump());
    int n = after[0][2].as<int>();

    lifecycle::completion c;
    c.result = {{"outcomes_processed", n},
                {"counter_updates", p.counter_updates},
                {"operations_applied", p.applied.size()},
                {"rounds", p.rounds.size()},
                {"to_version", to_number ? json(*to_number) : json(nullptr)},
                {"diff_summary", p.changed ? json(p.diff_summary) : json(nullptr)},
                {"budget", p.budget_note.empty() ? json(nullptr) : json(p.budget_note)},
                {"engine", run.llm ? "llm" : "builtin"}};
    c.token_totals = record_usage(tx, job, user, run.usage, c.result);
    c.progress = {{"step", "committed"}};
    for (const auto& step : last_steps)
      c.events_before.push_back(lifecycle::progress_event(job, user, step));
    c.outcomes_processed = n;
    c.from_version_id = snap.version_id;
    c.to_version_id = to_version_id;
    c.event_data = {{"playbook_id", job.playbook_id}, {"result", c.result}};
    if (to_version_id)
      c.events_after.push_back({"playbook.version_created", user, job.playbook_id, job.id,
                                {{"playbook_id", job.playbook_id},
                                 {"version", *to_number},
                                 {"job_id", job.id},
                                 {"diff_summary", p.diff_summary}}});
    // The ingestion rule runs again once this job is completed: a backlog
    // already over the threshold queues the next evolution at once.
    int pending = after[0][0].as<int>();
    if (pending >= after[0][1].as<int>() && pending > 0 && std::string{pb[0][2].c_str()} == "active")
      c.then = [user, job, max_attempts, pending](pqxx::work& t) {
        lifecycle::enqueue_evolution(t, user, job.playbook_id, max_attempts, "backlog", pending);
      };
    return c;
  });
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

job_result result_of(const job_assignment& job, attempt_end status, std::string error = {},
                     bool retryable = true) {
  return {job.id,    job.lease_token,   status, status == attempt_end::completed,
          retryable, std::move(error), ""};
}

// One attempt: what it needs to move from step to step.
struct attempt {
  job_assignment job;
  promise_t promise;
  std::shared_ptr<run_state> run = std::make_shared<run_state>();
};

using attempt_ptr = std::shared_ptr<attempt>;

struct context {
  store_actor store;
  evolution_options opts;
};

using context_ptr = std::shared_ptr<const context>;

// Answers the attempt and forgets it.
void answer(evolution_pointer self, const attempt_ptr& a, job_result r) {
  self->state.active.erase(a->job.id);
  a->promise.deliver(std::move(r));
}

void fail_with(evolution_pointer self, const attempt_ptr& a, const std::string& message) {
  answer(self, a, result_of(a->job, attempt_end::failed, message, true));
}

// True (and answered) when the attempt was asked to stop.
bool stopped(evolution_pointer self, const attempt_ptr& a) {
  auto it = self->state.active.find(a->job.id);
  if (it == self->state.active.end() || !it->second.second)
    return false;
  answer(self, a, result_of(a->job, attempt_end::cancelled));
  return true;
}

// Runs fenced store work for the attempt. The work answers false or nullopt
// when the lease is lost (the attempt ends `lost`); `next` gets what it
// answered otherwise. A store error (the database unavailable, a conflict)
// fails the attempt with the error's message.
template <class Work, class Next>
void step(evolution_pointer self, const context_ptr& ctx, const attempt_ptr& a, Work work,
          Next next) {
  runtime::store_call(
      self, ctx->store, a->job.id, std::move(work),
      [=](auto held) mutable {
        if (!held)
          return answer(self, a, result_of(a->job, attempt_end::lost));
        next(std::move(held));
      },
      [=](caf::error& e) { fail_with(self, a, message_of(e)); });
}

void report(evolution_pointer self, const context_ptr& ctx, const attempt_ptr& a, json what,
            std::function<void()> next) {
  auto job = a->job;
  step(
      self, ctx, a, [job, what](pqxx::connection& c) { return lifecycle::progress(c, job, what); },
      [=](bool) {
        if (!stopped(self, a))
          next();
      });
}

// The commit, with the steps that led straight to it (the last vote, the
// commit itself): their job.progress events are written in the commit's
// transaction, in order before job.completed, rather than each in a
// transaction of its own that nothing but the commit follows.
void commit_attempt(evolution_pointer self, const context_ptr& ctx, const attempt_ptr& a,
                    std::vector<json> steps) {
  if (stopped(self, a))
    return;
  finish(a->run->plan, ctx->opts.pipeline);
  auto job = a->job;
  auto run = a->run;
  int attempts = ctx->opts.max_attempts;
  steps.push_back({{"step", "commit"}});
  step(
      self, ctx, a,
      [job, run, attempts, steps](pqxx::connection& c) {
        return commit(c, job, *run, attempts, steps);
      },
      [=](bool) { answer(self, a, result_of(a->job, attempt_end::completed)); });
}

// One round: the three critics in parallel, then the voter.
void run_round(evolution_pointer self, const context_ptr& ctx, const attempt_ptr& a) {
  auto& plan = a->run->plan;
  if (plan.pending.empty())
    return commit_attempt(self, ctx, a, {});
  critique_request req{round_playbook(plan), plan.pending, ctx->opts.pipeline.curation};
  auto votes = std::make_shared<std::array<critic_votes, 3>>();
  auto waiting = std::make_shared<int>(3);
  auto on_all_votes = [=] {
    vote_request vr{(*votes)[0], (*votes)[1], (*votes)[2], ctx->opts.pipeline.voting};
    self->request(ctx->opts.voter, caf::infinite, std::move(vr))
        .then(
            [=](vote_result& result) {
              bool again = conclude_round(a->run->plan, (*votes)[0], (*votes)[1], (*votes)[2],
                                          result, ctx->opts.pipeline);
              metrics::evolution_round();
              auto& rounds = a->run->plan.rounds;
              json voted = {{"step", "vote"},
                            {"round", rounds.size()},
                            {"aggregated_score", rounds.back()["aggregated_score"]}};
              if (!again) {
                a->run->plan.pending.clear();
                return commit_attempt(self, ctx, a, {std::move(voted)});
              }
              report(self, ctx, a, std::move(voted), [=] { run_round(self, ctx, a); });
            },
            [=](caf::error& e) { fail_with(self, a, "voter failed: " + caf::to_string(e)); });
  };
  const critic_actor* critics[] = {&ctx->opts.completeness, &ctx->opts.efficiency,
                                   &ctx->opts.safety};
  auto failed = std::make_shared<bool>(false);
  for (std::size_t i = 0; i < 3; ++i)
    self->request(*critics[i], caf::infinite, req)
        .then(
            [=](critic_votes& v) {
              a->run->usage.merge(v.usage);
              (*votes)[i] = std::move(v);
              if (--*waiting == 0 && !*failed)
                on_all_votes();
            },
            [=](caf::error& e) {
              if (!*failed) {
                *failed = true;
                fail_with(self, a, "critic failed: " + caf::to_string(e));
              }
            });
}

void start(evolution_pointer self, const context_ptr& ctx, const attempt_ptr& a) {
  auto job = a->job;
  int max_outcomes = ctx->opts.max_outcomes_per_job;
  step(
      self, ctx, a,
      [job, max_outcomes](pqxx::connection& c) { return load_snapshot(c, job, max_outcomes); },
      [=](std::optional<snapshot> snap) {
         if (stopped(self, a))
           return;
         a->run->snap = std::move(*snap);
         auto curated = [=] {
           if (stopped(self, a))
             return;
           const auto& plan = a->run->plan;
           report(self, ctx, a,
                  {{"step", "curate"},
                   {"outcomes", plan.reflections.size()},
                   {"counter_updates", plan.counter_updates},
                   {"proposed", plan.pending.size()}},
                  [=] { run_round(self, ctx, a); });
         };
         if (!ctx->opts.engine) {
           a->run->plan = start_plan(a->run->snap.data, ctx->opts.pipeline);
           return curated();
         }
         // The model's steps block on the network: they run on a worker of
         // their own while this actor serves other jobs.
         auto run = a->run;
         run->llm = true;
         auto work = [run, ctx] {
           run->plan = start_plan_llm(run->snap.data, ctx->opts.pipeline,
                                      *ctx->opts.engine, run->usage);
         };
         self->request(runtime::spawn_blocking(self->system()), caf::infinite,
                       runtime::blocking_call{std::move(work)})
             .then(
                 [=](std::string& problem) {
                   if (!problem.empty())
                     return fail_with(self, a, "the llm engine failed: " + problem);
                   curated();
                 },
                 [=](caf::error& e) { fail_with(self, a, "the llm engine failed: " + caf::to_string(e)); });
       });
}

job_executor_actor::behavior_type evolution_actor(evolution_pointer self, context_ptr ctx) {
  return {
      [=](job_assignment& job) -> caf::result<job_result> {
        auto a = std::make_shared<attempt>();
        a->job = std::move(job);
        a->promise = self->make_response_promise<job_result>();
        self->state.active[a->job.id] = {a->job.lease_token, false};
        start(self, ctx, a);
        return a->promise;
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
  auto ctx = std::make_shared<const context>(context{std::move(store), std::move(opts)});
  return sys.spawn(evolution_actor, ctx);
}

} // namespace troupe::evolution
