// The values the gateway and the domain actors exchange: plain structs,
// with no CAF, so pure logic (request readers such as outcome_rules and
// runtime/input) can include them. messages/api.hpp makes them messages.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace troupe {

// Who is calling. Filled by the credential verifier, read by domain actors.
struct principal {
  std::string user_id;
  std::string email;
  std::vector<std::string> scopes; // "*", "group:*" or "group:action"
  std::string key_prefix;          // the API key's prefix; empty for a JWT
  int rate_limit_per_minute = 0;   // the API key's own request limit; 0: the server's
};

// The operations of the API, one per route: the gateway's routing table
// (gateway/router.cpp) names each route's operation, and each domain actor
// keeps its handlers by operation, so a route reaches its handler without a
// "METHOD /template" string that two tables must spell alike.
enum class endpoint : std::uint8_t {
  // system (and the gateway's own)
  healthz, readyz, status, metrics, openapi, dashboard, dashboard_asset,
  // accounts
  register_user, login, refresh, me, create_api_key, list_api_keys, revoke_api_key,
  // playbooks
  create_playbook, list_playbooks, get_playbook, update_playbook, archive_playbook,
  list_versions, create_version, get_version, diff_versions, rollback, playbook_context,
  find_playbook,
  // ingestion (a playbook's export and import carry its outcomes)
  record_outcome, list_outcomes, export_playbook, import_playbook,
  // jobs
  trigger_evolution, list_evolutions, list_jobs, job_stats, get_job, cancel_job, retry_job,
  // critiques
  create_critique, get_critique,
  // projects and system maps
  create_project, list_projects, get_project, analyze_project, get_system_map,
  // usage
  usage_report,
  // MCP (JSON-RPC over POST /mcp)
  mcp,
  // event streams (the gateway hands the connection to a stream)
  events_sse, events_ws,
};

// A routed HTTP request. `op` is the route's operation, `route` its template
// ("/v1/playbooks/{id}", for logs); `params` are the template's parameters in
// order.
struct api_request {
  std::string request_id;
  std::string method;
  endpoint op = endpoint::healthz;
  std::string route;
  std::vector<std::string> params;
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
  principal caller;
  std::string client_address; // for per-address limits (sign-in)
};

struct api_response {
  std::uint16_t status = 200;
  std::string body; // JSON, or empty for 204
  std::map<std::string, std::string> headers;
};

// A credential as presented: the raw token or key from Authorization or X-API-Key.
struct credential {
  std::string token;
  std::string request_id;
};

// The verifier's answer: `ok` with the principal, or an HTTP status (401 for
// a bad credential, 503 when the database cannot be asked) with a message.
struct auth_outcome {
  bool ok = false;
  std::uint16_t status = 401;
  std::string message;
  principal who;
};

} // namespace troupe
