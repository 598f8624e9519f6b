// The gateway: turns framed HTTP requests into typed requests to domain
// actors and writes their replies.
//
//   io thread: route (404/405) → body checks (415, 400 invalid_json)
//        │ anon_send(exchange)
//        ▼
//   bridge actor ──verify──► credential verifier   (401 / 503)
//        │ scope check (403)
//        ├──api_request──► system | accounts | playbooks ──► store
//        ◄──api_response───┘
//        └─► responder (posts the write back to the connection's io thread)
#pragma once

#include "gateway/credential_cache.hpp"
#include "gateway/http_server.hpp"
#include "messages/api.hpp"
#include "messages/store.hpp"

#include <chrono>

namespace troupe::gateway {

struct gateway_targets {
  api_actor system;
  api_actor accounts;
  api_actor playbooks;
  api_actor ingestion;
  api_actor jobs;
  api_actor critiques;
  api_actor usage;
  api_actor events;
  credential_actor verifier;
};

struct gateway_bridge {
  dispatcher dispatch;           // what the HTTP server calls on its io threads
  caf::actor actor;              // the bridge actor, for shutdown
  std::function<void()> release; // drops the dispatcher's handle (io threads stopped)
};

// Spawns the bridge actor and builds the dispatcher that feeds it. The
// dispatcher authenticates on the io thread what it can (JWTs, cached keys).
gateway_bridge make_bridge(caf::actor_system& sys, gateway_targets targets, std::string jwt_secret,
                           std::shared_ptr<credential_cache> cache);

// Registers the verifier's prepared statements (call before spawn_store).
void register_statements();

// The credential verifier: API keys missing from `cache` are looked up
// through the store and cached; JWTs are checked with `jwt_secret`.
credential_actor spawn_verifier(caf::actor_system& sys, store_actor store, std::string jwt_secret,
                                std::shared_ptr<credential_cache> cache);

} // namespace troupe::gateway
