// The outbox: events are rows written in the caller's transaction, so they
// commit or roll back with the work they describe; the event bridge reads
// them after commit (docs/events.md). Also the NOTIFY that wakes job runners.
#pragma once

#include <nlohmann/json.hpp>
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

// The same insert as the tail of a bigger statement: `INSERT … SELECT` from
// the events given as the parameter `param` (events_parameter). The caller
// makes sure the transaction has its xid first, and sets events_written().
std::string insert_events_sql(const std::string& param);
std::string events_parameter(const std::vector<event_row>& events);

// Set by insert_events (and by the job lifecycle's statements, which write
// their events set-wise) on the calling thread; a store worker reads and
// clears it around each task to wake the event bridge at once. Work on
// other threads (the scheduler's own connection) is found by the bridge's
// poll instead.
bool& events_written();

// NOTIFY the job runners (delivered when the transaction commits); also
// sets jobs_enqueued(), which a store worker reads like events_written().
void notify_runners(pqxx::transaction_base& tx, const std::string& kind);
bool& jobs_enqueued();

// The NOTIFY channel credential caches listen on: the payload is the id of
// a user whose key was revoked (every gateway drops that user's entries).
constexpr const char* auth_channel = "troupe_auth";
void notify_revoked(pqxx::transaction_base& tx, const std::string& user_id);

} // namespace troupe::runtime
