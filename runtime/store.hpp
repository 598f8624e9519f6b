// The store: every SQL statement of a node goes through it.
//
//            db_task                 idle worker?
//   caller ──────────► store front ──── yes ──► worker k (detached, owns one
//      ▲                 │  no: queue (bounded; full → 503)     pqxx::connection)
//      └──── api_response ◄─────────────────────────────────────┘
//
// Each worker is a detached actor that owns one connection, so blocking
// libpq calls never run on CAF's shared scheduler threads. A worker whose
// connection broke answers 503 at once and reconnects with capped
// exponential back-off; prepared statements are registered again on each
// new connection.
#pragma once

#include "messages/store.hpp"

#include <functional>
#include <string>

namespace troupe::runtime {

struct store_options {
  std::string connection_string;
  int pool_size = 8;
  int statement_timeout_ms = 5000;
  int reconnect_max_backoff_ms = 5000;
  std::size_t max_queue = 10000; // tasks waiting for a worker; beyond → 503
  // Called on the worker's thread after a task that wrote events
  // (runtime::insert_events) returned: the in-process wake-up of the event
  // bridge. Must not block.
  std::function<void()> on_events_written;
};

// Registers a prepared statement for every store connection. Call before
// spawn_store (statements are prepared lazily on first use).
void register_statement(const std::string& name, const std::string& sql);

store_actor spawn_store(caf::actor_system& sys, const store_options& opts);

// Opens a connection with the statement timeout applied and every
// registered statement prepared (also used by one-shot commands).
std::unique_ptr<pqxx::connection> open_connection(const std::string& connection_string,
                                                  int statement_timeout_ms);

} // namespace troupe::runtime
