// The store's interface: a unit of database work and the actor that runs it.
//
// Work runs on one of the store's blocking workers with that worker's
// connection. The store is node-local by design (each node has its own
// connection pool), so its messages carry closures and never cross nodes;
// they are the message types without inspect().
//
//   db_call  ─► void(pqxx::connection&) ─► an empty answer, or a troupe error
//               (errc::unavailable when the database is unreachable; the
//               errc of an api_error the work threw; internal otherwise).
//               Typed results travel through runtime::store_call
//               (runtime/store.hpp), never through JSON.
//   db_task  ─► an HTTP route handler's answer (api_response); only for the
//               handlers the gateway reaches through handler_task.
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

struct db_call {
  std::function<void(pqxx::connection&)> run;
  std::string request_id; // for the log lines of a failure
};

using store_actor = caf::typed_actor<caf::replies_to<db_task>::with<api_response>,
                                     caf::replies_to<db_call>::with<void>>;

} // namespace troupe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::db_task)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::db_call)
