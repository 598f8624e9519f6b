// Route handlers that run in a store worker. A domain actor keeps a table
// from the operation (endpoint) its routes name in the gateway's routing
// table to a handler and delegates the request, as a db_task, to the store;
// the worker's reply goes straight back to the caller.
#pragma once

#include "messages/errors.hpp"
#include "runtime/store.hpp"

#include <functional>
#include <map>

namespace troupe::runtime {

template <class Context>
using route_handler =
    std::function<api_response(pqxx::connection&, const api_request&, const Context&)>;

template <class Context>
using handler_table = std::map<endpoint, route_handler<Context>>;

// The store task that answers `req` with its operation's handler (an
// operation the actor has no handler for is a bug in the routing table: 500,
// which tests/integration/routes_test.cpp looks for on every route).
template <class Context>
db_task handler_task(const handler_table<Context>& table, api_request req, Context ctx) {
  auto id = req.request_id;
  auto it = table.find(req.op);
  if (it == table.end())
    return {[id](pqxx::connection&) {
              return error_response(500, "internal", "internal error", id);
            },
            id};
  return {[fn = it->second, req = std::move(req), ctx = std::move(ctx)](pqxx::connection& c) {
            return fn(c, req, ctx);
          },
          id};
}

} // namespace troupe::runtime
