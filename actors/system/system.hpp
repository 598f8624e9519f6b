// The system actor answers the operations endpoints: /healthz, /readyz,
// /v1/status and /openapi.json.
#pragma once

#include "messages/api.hpp"
#include "runtime/store.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

namespace troupe::system_endpoints {

// What the node knows about itself; `draining` flips when shutdown begins.
struct node_info {
  std::string node_id;
  std::string version;
  int node_stale_s = 0; // a heartbeat older than this marks a node stale (app/node.cpp derives it)
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::shared_ptr<std::atomic<bool>> draining = std::make_shared<std::atomic<bool>>(false);
};

api_actor spawn_system(caf::actor_system& sys, store_actor store, node_info info);

} // namespace troupe::system_endpoints
