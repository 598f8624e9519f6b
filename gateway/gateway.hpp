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

#include "auth/credential_cache.hpp"
#include "gateway/http_server.hpp"
#include "messages/api.hpp"
#include "runtime/store.hpp"

#include <chrono>
#include <optional>

namespace troupe::gateway {

struct gateway_targets {
  api_actor system;
  api_actor accounts;
  api_actor playbooks;
  api_actor ingestion;
  api_actor jobs;
  api_actor critiques;
  api_actor projects;
  api_actor usage;
  credential_actor verifier;
  api_actor mcp; // POST /mcp (gateway/mcp.hpp)
  // The ingestion actor's direct handle: POST …/outcomes authenticated on the
  // io thread goes straight to it (no bridge hop); unset, through the bridge.
  direct_actor ingestion_direct;
};

// A request screened on the io thread, ready for the bridge actor.
struct screened_request {
  api_request req;
  const route* rt = nullptr;
  std::string token;
  // A body problem found on the io thread; answered only once the caller is
  // authenticated, so an anonymous caller learns nothing but 401.
  std::optional<api_response> body_error;
  bool needs_verification = false; // an API key not in the cache
};

// Everything the io thread decides before an actor sees a request: routing
// (404, 405 with Allow), the body's media type and JSON syntax (415, 400), the
// query string, the credential (JWTs and cached API keys: 401) and the route's
// scope (403). Returns the answer to give at once, or nothing with `out`
// ready for the bridge (which still verifies `out.needs_verification` keys).
// No database, no actor: also the fuzz target of the request path.
std::optional<api_response> screen(incoming_request in, const std::string& jwt_secret,
                                   const auth::credential_cache& cache, screened_request& out);

// Requests per credential and sliding minute (config rate_limit.*), counted
// by this gateway alone (docs/rate-limits.md). An API key's own limit wins.
struct request_limits {
  int requests_per_minute = 0;     // 0: no limit but a key's own
  std::size_t max_credentials = 100000;
};

struct gateway_bridge {
  dispatcher dispatch;           // what the HTTP server calls on its io threads
  caf::actor actor;              // the bridge actor, for shutdown
  std::function<void()> release; // drops the dispatcher's handle (io threads stopped)
};

// Spawns the bridge actor and builds the dispatcher that feeds it. The
// dispatcher authenticates on the io thread what it can (JWTs, cached keys).
// `version` goes into the /openapi.json the gateway answers itself.
// Every authenticated answer carries X-RateLimit-Limit, -Remaining and
// -Reset; a credential over its limit is answered 429 with Retry-After.
gateway_bridge make_bridge(caf::actor_system& sys, gateway_targets targets, std::string jwt_secret,
                           std::shared_ptr<auth::credential_cache> cache, const std::string& version,
                           request_limits limits = {});

// The HTTP surface of a worker node: /healthz, /readyz and /metrics through
// the system actor; every other path is 404.
gateway_bridge make_health_bridge(caf::actor_system& sys, api_actor system,
                                  const std::string& version);

// Registers the verifier's prepared statements (call before spawn_store).
void register_statements();

// The credential verifier: API keys missing from `cache` are looked up
// through the store and cached; JWTs are checked with `jwt_secret`.
credential_actor spawn_verifier(caf::actor_system& sys, store_actor store, std::string jwt_secret,
                                std::shared_ptr<auth::credential_cache> cache);

} // namespace troupe::gateway
