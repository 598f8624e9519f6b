#include "gateway/router.hpp"

#include "text/ascii.hpp"
#include "text/utf8.hpp"

#include <nlohmann/json.hpp>
#include <set>

namespace troupe::gateway {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == path.npos)
      end = path.size();
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

bool is_param(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Fills `params` when the request path, split into `have`, fits the route
// template split into `want`.
bool fits(const std::vector<std::string_view>& want, const std::vector<std::string_view>& have,
          std::vector<std::string>& params) {
  if (want.size() != have.size())
    return false;
  params.clear();
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (is_param(want[i])) {
      if (have[i].empty())
        return false;
      params.emplace_back(have[i]);
    } else if (want[i] != have[i]) {
      return false;
    }
  }
  return true;
}

} // namespace

// Each row names the actor and the handler (messages/api.hpp, endpoint) that
// answer its route; unset fields take route's defaults (authenticated, no
// scope, no body, 200).
const std::vector<route>& routes() {
  static const std::vector<route> table = {
      {.method = "GET",
       .path = "/",
       .target = service::dashboard,
       .handler = endpoint::dashboard,
       .authenticated = false,
       .summary = "The web dashboard (docs/dashboard.md)"},
      {.method = "GET",
       .path = "/ui/{asset}",
       .target = service::dashboard,
       .handler = endpoint::dashboard_asset,
       .authenticated = false,
       .summary = "The dashboard's scripts and styles"},
      {.method = "GET",
       .path = "/healthz",
       .target = service::system,
       .handler = endpoint::healthz,
       .authenticated = false,
       .summary = "Liveness: 200 while the process runs"},
      {.method = "GET",
       .path = "/readyz",
       .target = service::system,
       .handler = endpoint::readyz,
       .authenticated = false,
       .summary = "Readiness: 200 when the database is reachable and migrated and the node is "
                   "not draining"},
      {.method = "GET",
       .path = "/v1/status",
       .target = service::system,
       .handler = endpoint::status,
       .authenticated = false,
       .summary = "Node and queue status"},
      {.method = "GET",
       .path = "/openapi.json",
       .target = service::openapi,
       .handler = endpoint::openapi,
       .authenticated = false,
       .summary = "This OpenAPI document"},
      {.method = "GET",
       .path = "/metrics",
       .target = service::system,
       .handler = endpoint::metrics,
       .authenticated = false,
       .summary = "Prometheus text exposition of this node's metrics (docs/metrics.md)"},
      {.method = "POST",
       .path = "/v1/auth/register",
       .target = service::accounts,
       .handler = endpoint::register_user,
       .authenticated = false,
       .takes_body = true,
       .success_status = 201,
       .summary = "Register a user (when auth.allow_registration)"},
      {.method = "POST",
       .path = "/v1/auth/login",
       .target = service::accounts,
       .handler = endpoint::login,
       .authenticated = false,
       .takes_body = true,
       .summary = "Exchange email and password for an access and a refresh token"},
      {.method = "POST",
       .path = "/v1/auth/refresh",
       .target = service::accounts,
       .handler = endpoint::refresh,
       .authenticated = false,
       .takes_body = true,
       .summary = "Exchange a refresh token for a new pair (the old one stops working)"},
      {.method = "GET",
       .path = "/v1/auth/me",
       .target = service::accounts,
       .handler = endpoint::me,
       .summary = "The calling user"},
      {.method = "POST",
       .path = "/v1/auth/api-keys",
       .target = service::accounts,
       .handler = endpoint::create_api_key,
       .scope = "keys:write",
       .takes_body = true,
       .success_status = 201,
       .summary = "Create an API key (the key is shown in this response only)"},
      {.method = "GET",
       .path = "/v1/auth/api-keys",
       .target = service::accounts,
       .handler = endpoint::list_api_keys,
       .scope = "keys:read",
       .summary = "List API keys by prefix"},
      {.method = "DELETE",
       .path = "/v1/auth/api-keys/{id}",
       .target = service::accounts,
       .handler = endpoint::revoke_api_key,
       .scope = "keys:write",
       .success_status = 204,
       .summary = "Revoke an API key"},
      {.method = "POST",
       .path = "/v1/playbooks",
       .target = service::playbooks,
       .handler = endpoint::create_playbook,
       .scope = "playbooks:write",
       .takes_body = true,
       .success_status = 201,
       .summary = "Create a playbook (content becomes version 1)"},
      {.method = "GET",
       .path = "/v1/playbooks",
       .target = service::playbooks,
       .handler = endpoint::list_playbooks,
       .scope = "playbooks:read",
       .summary = "List playbooks, newest first, with cursor pagination"},
      {.method = "POST",
       .path = "/mcp",
       .target = service::mcp,
       .handler = endpoint::mcp,
       // JSON-RPC: the MCP actor answers bad JSON with -32700, not 400
       .summary = "Model Context Protocol, Streamable HTTP, stateless (docs/mcp.md)"},
      {.method = "POST",
       .path = "/v1/playbooks/import",
       .target = service::ingestion,
       .handler = endpoint::import_playbook,
       .scope = "playbooks:write",
       .takes_body = true,
       .large_body = true,
       .success_status = 201,
       .summary = "A new playbook (source imported) from an export document; bodies up to "
                  "playbooks.max_import_bytes"},
      {.method = "GET",
       .path = "/v1/playbooks/{id}/export",
       .target = service::ingestion,
       .handler = endpoint::export_playbook,
       .scope = "playbooks:read",
       .summary = "The playbook, every version and every outcome, as one JSON document"},
      {.method = "POST",
       .path = "/v1/playbooks/find",
       .target = service::playbooks,
       .handler = endpoint::find_playbook,
       .scope = "playbooks:read",
       .takes_body = true,
       .summary = "The caller's active playbooks that best match {task_description}, best "
                  "first (docs/context.md)"},
      {.method = "GET",
       .path = "/v1/playbooks/{id}",
       .target = service::playbooks,
       .handler = endpoint::get_playbook,
       .scope = "playbooks:read",
       .summary = "Get a playbook with its current version"},
      {.method = "PATCH",
       .path = "/v1/playbooks/{id}",
       .target = service::playbooks,
       .handler = endpoint::update_playbook,
       .scope = "playbooks:write",
       .takes_body = true,
       .summary = "Change name, description, status or evolution_threshold"},
      {.method = "DELETE",
       .path = "/v1/playbooks/{id}",
       .target = service::playbooks,
       .handler = endpoint::archive_playbook,
       .scope = "playbooks:write",
       .success_status = 204,
       .summary = "Archive a playbook"},
      {.method = "GET",
       .path = "/v1/playbooks/{id}/versions",
       .target = service::playbooks,
       .handler = endpoint::list_versions,
       .scope = "playbooks:read",
       .summary = "List versions, newest first"},
      {.method = "POST",
       .path = "/v1/playbooks/{id}/versions",
       .target = service::playbooks,
       .handler = endpoint::create_version,
       .scope = "playbooks:write",
       .takes_body = true,
       .success_status = 201,
       .summary = "Create a manual version"},
      {.method = "GET",
       .path = "/v1/playbooks/{id}/versions/{n}",
       .target = service::playbooks,
       .handler = endpoint::get_version,
       .scope = "playbooks:read",
       .summary = "Get one version with its content"},
      {.method = "GET",
       .path = "/v1/playbooks/{id}/context",
       .target = service::playbooks,
       .handler = endpoint::playbook_context,
       .scope = "playbooks:read",
       .summary = "The bullets of a version that matter for ?task=, ranked and cut to "
                  "?max_tokens= (default 2000), in the ACE format (docs/context.md)"},
      {.method = "GET",
       .path = "/v1/playbooks/{id}/versions/{n}/diff",
       .target = service::playbooks,
       .handler = endpoint::diff_versions,
       .scope = "playbooks:read",
       .summary = "Bullets added, removed and changed between two versions"},
      {.method = "POST",
       .path = "/v1/playbooks/{id}/rollback",
       .target = service::playbooks,
       .handler = endpoint::rollback,
       .scope = "playbooks:write",
       .takes_body = true,
       .success_status = 201,
       .summary = "Create a new version equal to an earlier one"},
      {.method = "POST",
       .path = "/v1/playbooks/{id}/outcomes",
       .target = service::ingestion,
       .handler = endpoint::record_outcome,
       .scope = "outcomes:write",
       .takes_body = true,
       .target_parses_body = true,
       .success_status = 201,
       .summary = "Record the outcome of a task run with the playbook (Idempotency-Key honoured)"},
      {.method = "GET",
       .path = "/v1/playbooks/{id}/outcomes",
       .target = service::ingestion,
       .handler = endpoint::list_outcomes,
       .scope = "playbooks:read",
       .summary = "List outcomes, newest first; ?processed=true|false"},
      {.method = "POST",
       .path = "/v1/playbooks/{id}/evolutions",
       .target = service::jobs,
       .handler = endpoint::trigger_evolution,
       .scope = "evolution:write",
       .takes_body = true,
       .body_optional = true,
       .success_status = 202,
       .summary = "Trigger an evolution (or get the active one)"},
      {.method = "GET",
       .path = "/v1/playbooks/{id}/evolutions",
       .target = service::jobs,
       .handler = endpoint::list_evolutions,
       .scope = "evolution:read",
       .summary = "Evolution jobs of the playbook, newest first"},
      {.method = "GET",
       .path = "/v1/jobs",
       .target = service::jobs,
       .handler = endpoint::list_jobs,
       .scope = "jobs:read",
       .summary = "List jobs; ?kind=&status=&playbook_id="},
      {.method = "GET",
       .path = "/v1/jobs/stats",
       .target = service::jobs,
       .handler = endpoint::job_stats,
       .scope = "jobs:read",
       .summary = "The caller's jobs by kind and state, and per minute over the last hour: "
                  "completed, failed and queue depth (docs/dashboard.md)"},
      {.method = "GET",
       .path = "/v1/jobs/{id}",
       .target = service::jobs,
       .handler = endpoint::get_job,
       .scope = "jobs:read",
       .summary = "Get a job with its rounds"},
      {.method = "POST",
       .path = "/v1/jobs/{id}/cancel",
       .target = service::jobs,
       .handler = endpoint::cancel_job,
       .scope = "jobs:write",
       .summary = "Cancel a job: queued at once, running at its next step"},
      {.method = "POST",
       .path = "/v1/jobs/{id}/retry",
       .target = service::jobs,
       .handler = endpoint::retry_job,
       .scope = "jobs:write",
       .summary = "Queue a failed or cancelled job again"},
      {.method = "POST",
       .path = "/v1/critiques",
       .target = service::critiques,
       .handler = endpoint::create_critique,
       .scope = "critiques:write",
       .takes_body = true,
       .success_status = 202,
       .summary = "Queue an iterative self-critique of a plan"},
      {.method = "GET",
       .path = "/v1/critiques/{job_id}",
       .target = service::critiques,
       .handler = endpoint::get_critique,
       .scope = "critiques:read",
       .summary = "A critique job with its iterations, final plan and why it converged"},
      {.method = "POST",
       .path = "/v1/projects",
       .target = service::projects,
       .handler = endpoint::create_project,
       .scope = "projects:write",
       .takes_body = true,
       .target_parses_body = true,
       .success_status = 201,
       .summary = "Create a project from a repository URL; its first analysis is queued"},
      {.method = "GET",
       .path = "/v1/projects",
       .target = service::projects,
       .handler = endpoint::list_projects,
       .scope = "projects:read",
       .summary = "List projects, newest first; ?limit=&cursor="},
      {.method = "GET",
       .path = "/v1/projects/{id}",
       .target = service::projects,
       .handler = endpoint::get_project,
       .scope = "projects:read",
       .summary = "A project with its status and newest analysis job"},
      {.method = "POST",
       .path = "/v1/projects/{id}/analyze",
       .target = service::projects,
       .handler = endpoint::analyze_project,
       .scope = "projects:write",
       .takes_body = true,
       .body_optional = true,
       .target_parses_body = true,
       .success_status = 202,
       .summary = "Queue an analysis (or answer the one queued or running)"},
      {.method = "GET",
       .path = "/v1/projects/{id}/system-map",
       .target = service::projects,
       .handler = endpoint::get_system_map,
       .scope = "projects:read",
       .summary = "The newest system map; ?format=mermaid for the module graph"},
      {.method = "GET",
       .path = "/v1/usage",
       .target = service::usage,
       .handler = endpoint::usage_report,
       .scope = "usage:read",
       .summary = "Token and cost totals; ?from=&to=&group_by=day|playbook|operation|model"},
      {.method = "GET",
       .path = "/v1/events",
       .target = service::events,
       .handler = endpoint::events_sse,
       .scope = "events:read",
       .summary = "Server-Sent Events of the caller's events; "
                   "?topics=&playbook_id=&job_id=&after="},
      {.method = "GET",
       .path = "/v1/events/ws",
       .target = service::events,
       .handler = endpoint::events_ws,
       .scope = "events:read",
       .success_status = 101,
       .summary = "The same events over a WebSocket (text frames, one event each)"},
  };
  return table;
}

namespace {

// Every route's template split into segments, once: views into routes().
const std::vector<std::vector<std::string_view>>& route_segments() {
  static const auto table = [] {
    std::vector<std::vector<std::string_view>> out;
    for (const auto& rt : routes())
      out.push_back(split_path(rt.path));
    return out;
  }();
  return table;
}

} // namespace

match_result match(std::string_view method, std::string_view path) {
  match_result result;
  std::set<std::string> allowed;
  std::vector<std::string> params;
  auto have = split_path(path); // once, not once per route
  const auto& segments = route_segments();
  for (std::size_t i = 0; i < routes().size(); ++i) {
    const auto& rt = routes()[i];
    if (!fits(segments[i], have, params))
      continue;
    // HEAD is answered by the GET route, without the content (RFC 9110 §9.3.2).
    if (rt.method == method || (method == "HEAD" && rt.method == "GET")) {
      result.kind = match_result::found;
      result.matched = &rt;
      result.params = params;
      return result;
    }
    allowed.insert(rt.method);
    if (rt.method == "GET")
      allowed.insert("HEAD");
    if (!result.matched)
      result.matched = &rt; // the path's template, for a 405's metrics label
  }
  if (!allowed.empty()) {
    result.kind = match_result::method_not_allowed;
    for (const auto& m : allowed)
      result.allow += (result.allow.empty() ? "" : ", ") + m;
  }
  return result;
}

bool parse_query(std::string_view query, std::map<std::string, std::string>& out) {
  std::size_t start = 0;
  while (start < query.size()) {
    auto end = query.find('&', start);
    if (end == query.npos)
      end = query.size();
    auto pair = query.substr(start, end - start);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      std::string key, value;
      if (!text::percent_decode(pair.substr(0, eq), key, true) ||
          (eq != pair.npos && !text::percent_decode(pair.substr(eq + 1), value, true)))
        return false;
      // Every parameter may reach a text column: no U+0000, valid UTF-8 only.
      for (const auto* text : {&key, &value})
        if (text->find('\0') != std::string::npos || !text::valid_utf8(*text))
          return false;
      out[key] = value;
    }
    start = end + 1;
  }
  return true;
}

std::string openapi_json(const std::string& version) {
  nlohmann::json paths = nlohmann::json::object();
  for (const auto& rt : routes()) {
    nlohmann::json op = {{"summary", rt.summary},
                         {"responses",
                          {{std::to_string(rt.success_status), {{"description", "success"}}},
                           {"default",
                            {{"description", "error"},
                             {"content",
                              {{"application/json",
                                {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}}}}}};
    nlohmann::json parameters = nlohmann::json::array();
    for (auto segment : split_path(rt.path))
      if (is_param(segment))
        parameters.push_back({{"name", std::string{segment.substr(1, segment.size() - 2)}},
                              {"in", "path"},
                              {"required", true},
                              {"schema", {{"type", "string"}}}});
    if (!parameters.empty())
      op["parameters"] = parameters;
    if (rt.takes_body)
      op["requestBody"] = {
          {"required", !rt.body_optional},
          {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
    if (rt.authenticated) {
      op["security"] = nlohmann::json::array({{{"bearer", nlohmann::json::array()}},
                                              {{"apiKey", nlohmann::json::array()}}});
      if (!rt.scope.empty())
        op["x-required-scope"] = rt.scope;
      nlohmann::json counted = nlohmann::json::object();
      for (const char* h : {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"})
        counted[h] = {{"schema", {{"type", "integer"}}}};
      op["responses"][std::to_string(rt.success_status)]["headers"] = counted;
      op["responses"]["429"] = {
          {"description", "over the credential's request limit"},
          {"headers", {{"Retry-After", {{"schema", {{"type", "integer"}}}}}}},
          {"content",
           {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
    }
    paths[rt.path][text::lower(rt.method)] = op;
  }
  nlohmann::json error_schema = {
      {"type", "object"},
      {"required", {"error"}},
      {"properties",
       {{"error",
         {{"type", "object"},
          {"required", {"code", "message", "request_id"}},
          {"properties",
           {{"code", {{"type", "string"}}},
            {"message", {{"type", "string"}}},
            {"details", {{"type", "object"}}},
            {"request_id", {{"type", "string"}}}}}}}}}};
  nlohmann::json doc = {
      {"openapi", "3.1.0"},
      {"info", {{"title", "troupe"}, {"version", version}}},
      {"paths", paths},
      {"components",
       {{"schemas", {{"Error", error_schema}}},
        {"securitySchemes",
         {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}},
          {"apiKey", {{"type", "apiKey"}, {"in", "header"}, {"name", "X-API-Key"}}}}}}}};
  return doc.dump();
}

} // namespace troupe::gateway
