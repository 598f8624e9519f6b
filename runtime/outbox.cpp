#include "runtime/outbox.hpp"

#include "runtime/store.hpp"

namespace troupe::runtime {

using json = nlohmann::json;

bool& events_written() {
  thread_local bool written = false;
  return written;
}

std::string insert_events_sql(const std::string& param) {
  return "INSERT INTO events (user_id, topic, playbook_id, job_id, data)"
         " SELECT x.user_id, x.topic, x.playbook_id, x.job_id, x.data"
         " FROM jsonb_to_recordset(" + param + "::jsonb)"
         " AS x(user_id uuid, topic text, playbook_id uuid, job_id uuid, data jsonb)";
}

std::string events_parameter(const std::vector<event_row>& events) {
  json rows = json::array();
  for (const auto& e : events)
    rows.push_back({{"topic", e.topic},
                    {"user_id", e.user_id.empty() ? json(nullptr) : json(e.user_id)},
                    {"playbook_id", e.playbook_id.empty() ? json(nullptr) : json(e.playbook_id)},
                    {"job_id", e.job_id.empty() ? json(nullptr) : json(e.job_id)},
                    {"data", e.data.is_null() ? json::object() : e.data}});
  return rows.dump();
}

void insert_events(pqxx::transaction_base& tx, const std::vector<event_row>& events) {
  if (events.empty())
    return;
  events_written() = true;
  // The xid before the first nextval.
  static const statement sql{insert_events_sql("$1") + " WHERE pg_current_xact_id() IS NOT NULL"};
  sql(tx, events_parameter(events));
}

bool& jobs_enqueued() {
  thread_local bool enqueued = false;
  return enqueued;
}

void notify_runners(pqxx::transaction_base& tx, const std::string& kind) {
  jobs_enqueued() = true;
  static const statement sql{"SELECT pg_notify($1, $2)"};
  sql(tx, jobs_channel, kind);
}

void notify_revoked(pqxx::transaction_base& tx, const std::string& user_id) {
  tx.exec_params("SELECT pg_notify($1, $2)", auth_channel, user_id);
}

} // namespace troupe::runtime
