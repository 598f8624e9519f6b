// SQL shared by everything that enqueues jobs or writes events, always inside
// the caller's transaction (events are an outbox: they commit or roll back
// with the work they describe).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace troupe::runtime {

// The NOTIFY channel job runners listen on.
constexpr const char* jobs_channel = "troupe_jobs";

struct event_row {
  std::string topic;
  std::string user_id;
  std::string playbook_id; // empty → NULL
  std::string job_id;      // empty → NULL
  nlohmann::json data;
};

// Appends events in one statement.
// The statement makes sure the transaction has its id before the events
// take theirs, which the event bridge's gap detection relies on
// (docs/events.md).
void insert_events(pqxx::transaction_base& tx, const std::vector<event_row>& events);

// Set by insert_events on the calling thread; the store reads and clears it
// around each task to wake the event bridge.
bool& events_written();

struct enqueued {
  std::string job_id;
  bool is_new = false;
  std::string status; // of the returned job
};

// The playbook's active evolution, if any.
std::optional<enqueued> active_evolution(pqxx::transaction_base& tx,
                                         const std::string& playbook_id);

// Queues an evolution for the playbook unless one is already queued or
// running: INSERT … ON CONFLICT DO NOTHING on the partial unique index, then
// the existing job. A new job also gets its `evolution.queued` event and a
// NOTIFY (delivered at commit). `trigger` is recorded in the payload.
enqueued enqueue_evolution(pqxx::transaction_base& tx, const std::string& user_id,
                           const std::string& playbook_id, int max_attempts,
                           const std::string& trigger, int pending_outcomes);

// Stores a job's rounds: `rounds` is an array of {round_number, proposal,
// votes, aggregated_score, accepted, rejected}.
void insert_rounds(pqxx::transaction_base& tx, const std::string& job_id,
                   const nlohmann::json& rounds);

// NOTIFY the job runners (delivered when the transaction commits).
void notify_runners(pqxx::transaction_base& tx, const std::string& kind);

} // namespace troupe::runtime
