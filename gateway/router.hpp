// The routing table: every route of the API in one place. It drives request
// dispatch, the 404/405 decision (with Allow) and /openapi.json.
#pragma once

#include "messages/api.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::gateway {

// The domain actor that answers a route, or the gateway itself.
// `openapi`: the gateway answers with this API's description; `events`: the
// gateway hands the connection to an event stream; `dashboard`: the gateway
// answers with an asset compiled into the binary.
enum class service {
  system, accounts, playbooks, ingestion, jobs, critiques, projects, usage, events, openapi, mcp,
  dashboard
};

struct route {
  std::string method;
  std::string path;                // template, e.g. "/v1/playbooks/{id}/versions/{n}"
  service target;                  // the actor that answers it
  endpoint handler;                // the operation its handler is kept under
  bool authenticated = true;       // needs a credential
  std::string scope = {};          // scope the credential must grant; empty for none
  bool takes_body = false;         // a JSON object body is accepted
  bool body_optional = false;      // …and may be left out
  bool large_body = false;         // up to server.max_import_bytes, not server.max_body_bytes
  // The target parses the body with input::object_body (the same 400s): the
  // gateway checks only its nesting, not the whole grammar a second time.
  bool target_parses_body = false;
  int success_status = 200;        // documented success code
  std::string summary;             // one line, for OpenAPI
};

const std::vector<route>& routes();

struct match_result {
  enum kind_t { found, not_found, method_not_allowed } kind = not_found;
  const route* matched = nullptr; // found; for method_not_allowed, a route of that path
  std::vector<std::string> params;
  std::string allow; // "GET, POST" for method_not_allowed
};

// Matches a path (without the query string) and method against the table.
// HEAD matches a GET route; a path with a GET route allows HEAD.
match_result match(std::string_view method, std::string_view path);

// Splits and percent-decodes a query string ("a=1&b=x%20y"). Later
// duplicates overwrite earlier ones. Returns false for malformed escapes, and
// for a name or value that is not valid UTF-8 or holds U+0000.
bool parse_query(std::string_view query, std::map<std::string, std::string>& out);

// The OpenAPI 3.1 document describing routes().
std::string openapi_json(const std::string& version);

} // namespace troupe::gateway
