// The job state machine: every change of a job's status is a function here,
// so the lease fence and the outbox insert of job events are written once
// (job_lifecycle.cpp), and every executor, the runner, the scheduler and the
// jobs API call the same code. Each function runs in the caller's store work
// (a pqxx connection or transaction); none talks to an actor.
//
//   enqueue, enqueue_evolution
//            │
//            ▼            claim (batches, SKIP LOCKED: a fresh lease and token)
//         queued ─────────────────────────────────────────► running ◄─┐ heartbeat,
//          ▲ ▲ ▲                                              │ │ │  └─┘ progress
//          │ │ └── release (drain: the attempt does not count) ┘ │ │
//          │ └──── fail_attempt, rescue_expired: retryable ─────┘ │
//          │       with attempts left (after a back-off)          │
//          │                                                      │
//          │ retry (client)     ┌─────────────────┬───────────────┴───┐
//          │                    ▼                 ▼                   ▼
//          ├──────────────── failed           cancelled           completed
//          │            fail_attempt,      cancel_attempt;        complete (fenced,
//          │            rescue_expired:    fail_attempt, release, with the caller's
//          │            not retryable or   rescue when a cancel   effects), complete_all
//          │            no attempts left   was requested;         (effect-free, batched)
//          └───────────────────────────────request_cancel of a
//                                          queued job
//
// The fence: a running job is an attempt's while `status = 'running' AND
// lease_token = <the attempt's token>`; a write whose fence matches no row
// changes nothing and reports the lease lost (false / nullopt). Every
// transition writes its job.* event in the same statement or transaction.
#pragma once

#include "messages/jobs.hpp"
#include "runtime/outbox.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace troupe::lifecycle {

// An attempt's hold on a job.
struct lease {
  std::string job_id;
  std::string token;
};

// ---- entering the queue ---------------------------------------------------------------

struct new_job {
  std::string kind;
  std::string user_id;
  std::string playbook_id; // empty → NULL
  std::string project_id;  // a repository analysis' project; empty → NULL
  int max_attempts = 0;
  nlohmann::json payload = nlohmann::json::object();
  std::string queued_topic; // the event that announces it (e.g. critique.queued)
};

// Queues a job, with its queued event and a NOTIFY (delivered at commit);
// answers its id.
std::string enqueue(pqxx::transaction_base& tx, const new_job& job);

struct enqueued {
  std::string job_id;
  bool is_new = false;
  job_status status = job_status::queued; // of the returned job
};

// The playbook's active (queued or running) evolution, if any.
std::optional<enqueued> active_evolution(pqxx::transaction_base& tx,
                                         const std::string& playbook_id);

// Queues an evolution for the playbook unless one is already queued or
// running: INSERT … ON CONFLICT DO NOTHING on the partial unique index, then
// the existing job. A new job gets its `evolution.queued` event and a NOTIFY.
// `trigger` is recorded in the payload.
enqueued enqueue_evolution(pqxx::transaction_base& tx, const std::string& user_id,
                           const std::string& playbook_id, int max_attempts,
                           const std::string& trigger, int pending_outcomes);

// ---- a runner's attempts ---------------------------------------------------------------


struct claim_want {
  std::string kind;
  int max = 0;
};

// Claims up to `max` runnable jobs of each kind, in priority, run_after, id
// order, under fresh leases of `lease_s` seconds owned by `node_id`, with
// their job.started events.
std::vector<job_assignment> claim(pqxx::connection& conn, const std::vector<claim_want>& wants,
                                  const std::string& node_id, int lease_s);

// Extends the leases still held; answers job id → cancel requested for
// each of them (a lease missing from the answer is lost).
std::map<std::string, bool> heartbeat(pqxx::connection& conn, const std::vector<lease>& held,
                                      int lease_s);

// True while the attempt holds its job (the fence for a step that reads).
bool holds(pqxx::transaction_base& tx, const job_assignment& job);

// For a read that is its own fence, in one statement: a FROM item with one
// row while the attempt holds its job, whose lease is the statement's $1
// (lease_parameter).
std::string fenced_from();
std::string lease_parameter(const job_assignment& job);

// Records a step of the attempt in jobs.progress, with its job.progress
// event. False (nothing written) when the lease is lost.
bool progress(pqxx::connection& conn, const job_assignment& job, const nlohmann::json& step);

// The job.progress event of a step that is recorded with the job's
// completion instead of in a write of its own (an executor's last steps).
runtime::event_row progress_event(const job_assignment& job, const std::string& user_id,
                                  nlohmann::json step);

// What a completing executor writes besides its own effects.
struct completion {
  nlohmann::json result = nullptr;   // jobs.result
  nlohmann::json progress = nullptr; // jobs.progress; null keeps the last step
  nlohmann::json event_data = nlohmann::json::object(); // more fields of job.completed
  std::vector<runtime::event_row> events_before;        // written before job.completed
  std::vector<runtime::event_row> events_after;         // and after it
  // Evolution's columns.
  std::optional<int> outcomes_processed;
  std::optional<std::string> from_version_id;
  std::optional<std::string> to_version_id;
  nlohmann::json token_totals = nullptr;
  // Runs after the job is marked completed, in the same transaction (e.g.
  // to queue the playbook's next evolution, which the one-active rule
  // refuses while this one runs).
  std::function<void(pqxx::work&)> then;
};

// Runs `effects(tx, owner_user_id)` and completes the job in one
// transaction: the effects first, then the job's row under the fence with
// every event. False (nothing written: the effects roll back too) when the
// lease is lost; an exception from `effects` rolls everything back and
// propagates.
using effects_fn = std::function<completion(pqxx::work&, const std::string& user_id)>;
bool complete(pqxx::connection& conn, const job_assignment& job, const effects_fn& effects);

// Completes effect-free jobs in one statement; a job whose lease is gone is
// skipped.
struct finished {
  lease held;
  nlohmann::json result = nullptr;
};
void complete_all(pqxx::connection& conn, const std::vector<finished>& done);

// A failed attempt: queued again in `retry_in` when retryable with attempts
// left, cancelled when a cancel was requested meanwhile, else failed; the
// error joins the job's error history. nullopt when the lease is lost.
std::optional<job_status> fail_attempt(pqxx::connection& conn, const job_assignment& job,
                                       const std::string& error, bool retryable,
                                       std::chrono::milliseconds retry_in);

// The attempt stopped because a cancel was requested. False when the lease
// is lost.
bool cancel_attempt(pqxx::connection& conn, const job_assignment& job);

// Gives leases back (drain): each job is queued again at once and the
// attempt it was on does not count, or cancelled when a cancel was
// requested. Answers how many were queued again.
int release(pqxx::connection& conn, const std::vector<lease>& held);

// ---- the scheduler --------------------------------------------------------------------

// Jobs whose lease expired (their node died or stalled), up to 1000 per
// call: the rules of fail_attempt, retried at once. Answers how many.
int rescue_expired(pqxx::connection& conn);

// Running jobs leased by nodes the registry declared gone, at once rather
// than when their leases expire; the same rules. A node that was only slow
// loses its leases: its next fenced write is refused, as after an expiry.
int rescue_from_nodes(pqxx::connection& conn, const std::vector<std::string>& node_ids);

// ---- clients --------------------------------------------------------------------------

// A client's cancel: a queued job is cancelled at once, a running one is
// flagged and stops at its next step. Answers the job's status after, or
// nullopt when the caller has no queued or running job with this id.
std::optional<job_status> request_cancel(pqxx::transaction_base& tx, const std::string& job_id,
                                         const std::string& user_id);

// A client's retry of a failed or cancelled job: queued again with
// `more_attempts` attempts beyond those spent. False when the caller has no
// failed or cancelled job with this id; throws api_error(409) when it is an
// evolution and another is active for its playbook.
bool retry(pqxx::transaction_base& tx, const std::string& job_id, const std::string& user_id,
           int more_attempts);

// ---- a job's records ------------------------------------------------------------------

// Stores a job's rounds: `rounds` is an array of {round_number, proposal,
// votes, aggregated_score, accepted, rejected}.
void insert_rounds(pqxx::transaction_base& tx, const std::string& job_id,
                   const nlohmann::json& rounds);

} // namespace troupe::lifecycle
