// The store's interface: a unit of database work and the actor that runs it.
//
// A db_task carries a function that runs on one of the store's blocking
// workers with that worker's connection. The store is node-local by design
// (each node has its own connection pool), so db_task carries a closure and
// never crosses nodes; it is the one message type without inspect().
#pragma once

#include "messages/api.hpp"

#include <functional>
#include <memory>

#include <pqxx/connection>

namespace troupe {

struct db_task {
  // Runs inside the worker; throws pqxx::broken_connection when the database
  // is unreachable (answered 503), any other exception is a bug (500).
  std::function<api_response(pqxx::connection&)> run;
  std::string request_id;
};

using store_actor = caf::typed_actor<caf::replies_to<db_task>::with<api_response>>;

} // namespace troupe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::db_task)
