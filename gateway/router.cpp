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

// Fills `params` when the request path, split into `have`, fits `pattern`.
bool fits(std::string_view pattern, const std::vector<std::string_view>& have,
          std::vector<std::string>& params) {
  auto want = split_path(pattern);
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

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size())
        return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return true;
}

route r(std::string method, std::string path, service target, bool authenticated,
        std::string scope, bool takes_body, int success, std::string summary) {
  return {std::move(method), std::move(path), target,  authenticated,       std::move(scope),
          takes_body,        false,           success, std::move(summary)};
}

// A route whose JSON body may be left out.
route optional_body(route rt) {
  rt.body_optional = true;
  return rt;
}

} // namespace

const std::vector<route>& routes() {
  using enum service;
  static const std::vector<route> table = {
      r("GET", "/healthz", system, false, "", false, 200, "Liveness: 200 while the process runs"),
      r("GET", "/readyz", system, false, "", false, 200,
        "Readiness: 200 when the database is reachable and migrated and the node is not draining"),
      r("GET", "/v1/status", system, false, "", false, 200, "Node and queue status"),
      r("GET", "/openapi.json", openapi, false, "", false, 200, "This OpenAPI document"),
      r("GET", "/metrics", system, false, "", false, 200,
        "Prometheus text exposition of this node's metrics (docs/metrics.md)"),
      r("POST", "/v1/auth/register", accounts, false, "", true, 201,
        "Register a user (when auth.allow_registration)"),
      r("POST", "/v1/auth/login", accounts, false, "", true, 200,
        "Exchange email and password for an access and a refresh token"),
      r("POST", "/v1/auth/refresh", accounts, false, "", true, 200,
        "Exchange a refresh token for a new pair (the old one stops working)"),
      r("GET", "/v1/auth/me", accounts, true, "", false, 200, "The calling user"),
      r("POST", "/v1/auth/api-keys", accounts, true, "keys:write", true, 201,
        "Create an API key (the key is shown in this response only)"),
      r("GET", "/v1/auth/api-keys", accounts, true, "keys:read", false, 200,
        "List API keys by prefix"),
      r("DELETE", "/v1/auth/api-keys/{id}", accounts, true, "keys:write", false, 204,
        "Revoke an API key"),
      r("POST", "/v1/playbooks", playbooks, true, "playbooks:write", true, 201,
        "Create a playbook (content becomes version 1)"),
      r("GET", "/v1/playbooks", playbooks, true, "playbooks:read", false, 200,
        "List playbooks, newest first, with cursor pagination"),
      r("GET", "/v1/playbooks/{id}", playbooks, true, "playbooks:read", false, 200,
        "Get a playbook with its current version"),
      r("PATCH", "/v1/playbooks/{id}", playbooks, true, "playbooks:write", true, 200,
        "Change name, description, status or evolution_threshold"),
      r("DELETE", "/v1/playbooks/{id}", playbooks, true, "playbooks:write", false, 204,
        "Archive a playbook"),
      r("GET", "/v1/playbooks/{id}/versions", playbooks, true, "playbooks:read", false, 200,
        "List versions, newest first"),
      r("POST", "/v1/playbooks/{id}/versions", playbooks, true, "playbooks:write", true, 201,
        "Create a manual version"),
      r("GET", "/v1/playbooks/{id}/versions/{n}", playbooks, true, "playbooks:read", false, 200,
        "Get one version with its content"),
      r("GET", "/v1/playbooks/{id}/versions/{n}/diff", playbooks, true, "playbooks:read", false,
        200, "Bullets added, removed and changed between two versions"),
      r("POST", "/v1/playbooks/{id}/rollback", playbooks, true, "playbooks:write", true, 201,
        "Create a new version equal to an earlier one"),
      r("POST", "/v1/playbooks/{id}/outcomes", ingestion, true, "outcomes:write", true, 201,
        "Record the outcome of a task run with the playbook (Idempotency-Key honoured)"),
      r("GET", "/v1/playbooks/{id}/outcomes", ingestion, true, "playbooks:read", false, 200,
        "List outcomes, newest first; ?processed=true|false"),
      optional_body(r("POST", "/v1/playbooks/{id}/evolutions", jobs, true, "evolution:write",
                      true, 202, "Trigger an evolution (or get the active one)")),
      r("GET", "/v1/playbooks/{id}/evolutions", jobs, true, "evolution:read", false, 200,
        "Evolution jobs of the playbook, newest first"),
      r("GET", "/v1/jobs", jobs, true, "jobs:read", false, 200,
        "List jobs; ?kind=&status=&playbook_id="),
      r("GET", "/v1/jobs/{id}", jobs, true, "jobs:read", false, 200, "Get a job with its rounds"),
      r("POST", "/v1/jobs/{id}/cancel", jobs, true, "jobs:write", false, 200,
        "Cancel a job: queued at once, running at its next step"),
      r("POST", "/v1/jobs/{id}/retry", jobs, true, "jobs:write", false, 200,
        "Queue a failed or cancelled job again"),
      r("POST", "/v1/critiques", critiques, true, "critiques:write", true, 202,
        "Queue an iterative self-critique of a plan"),
      r("GET", "/v1/critiques/{job_id}", critiques, true, "critiques:read", false, 200,
        "A critique job with its iterations, final plan and why it converged"),
      r("GET", "/v1/usage", usage, true, "usage:read", false, 200,
        "Token and cost totals; ?from=&to=&group_by=day|playbook|operation|model"),
      r("GET", "/v1/events", events, true, "events:read", false, 200,
        "Server-Sent Events of the caller's events; ?topics=&playbook_id=&job_id=&after="),
      r("GET", "/v1/events/ws", events, true, "events:read", false, 101,
        "The same events over a WebSocket (text frames, one event each)"),
  };
  return table;
}

match_result match(std::string_view method, std::string_view path) {
  match_result result;
  std::set<std::string> allowed;
  std::vector<std::string> params;
  auto have = split_path(path); // once, not once per route
  for (const auto& rt : routes()) {
    if (!fits(rt.path, have, params))
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
      if (!percent_decode(pair.substr(0, eq), key) ||
          (eq != pair.npos && !percent_decode(pair.substr(eq + 1), value)))
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
