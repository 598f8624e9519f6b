#include "gateway/mcp.hpp"

#include "auth/credentials.hpp"
#include "messages/errors.hpp"
#include "runtime/log.hpp"
#include "text/ascii.hpp"

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>

namespace troupe::gateway {
namespace {

using json = nlohmann::json;

constexpr const char* latest_revision = "2025-11-25";
const std::vector<std::string>& revisions() {
  static const std::vector<std::string> r = {"2025-11-25", "2025-06-18", "2025-03-26"};
  return r;
}

// JSON-RPC error codes.
constexpr int parse_error = -32700;
constexpr int invalid_request = -32600;
constexpr int method_not_found = -32601;
constexpr int invalid_params = -32602;

api_response rpc_error(std::uint16_t http_status, const json& id, int code,
                       const std::string& message) {
  return json_response(http_status, {{"jsonrpc", "2.0"},
                                     {"id", id},
                                     {"error", {{"code", code}, {"message", message}}}});
}

api_response rpc_result(const json& id, json result) {
  return json_response(200, {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
}

// ---- tools ---------------------------------------------------------------

enum class target { playbooks, ingestion, jobs };

// What a tool call becomes: the REST operation's request, or a tool error.
struct translated {
  std::optional<std::string> error;
  target to = target::playbooks;
  endpoint op = endpoint::healthz;
  std::vector<std::string> params;
  std::map<std::string, std::string> query;
  json body = nullptr;
  std::map<std::string, std::string> headers;
};

struct tool {
  std::string name;
  std::string title;
  std::string description;
  std::string scope;
  json input_schema;
  json output_schema;
  std::function<translated(const json& args)> translate;
  // The structured result from the REST answer's body (2xx).
  std::function<json(const json& body, const json& args)> shape;
};

// An input schema refuses unknown arguments (as REST refuses unknown
// fields); an output schema (`open`) names what a result holds at least.
json object_schema(json properties, std::vector<std::string> required, bool open = false) {
  json s = {{"type", "object"}, {"properties", std::move(properties)}};
  if (!open)
    s["additionalProperties"] = false;
  if (!required.empty())
    s["required"] = required;
  return s;
}

json string_schema(const std::string& description) {
  return {{"type", "string"}, {"description", description}};
}

json int_schema(const std::string& description, int minimum) {
  return {{"type", "integer"}, {"minimum", minimum}, {"description", description}};
}

// A required string argument, or the message naming it.
std::optional<std::string> string_arg(const json& args, const std::string& name,
                                      std::string& out, bool required) {
  auto it = args.find(name);
  if (it == args.end() || it->is_null()) {
    if (required)
      return name + " is required";
    return std::nullopt;
  }
  if (!it->is_string())
    return name + " must be a string";
  out = it->get<std::string>();
  return std::nullopt;
}

// Unknown arguments are refused like unknown body fields are.
std::optional<std::string> only(const json& args, std::initializer_list<const char*> allowed) {
  for (auto it = args.begin(); it != args.end(); ++it) {
    bool known = false;
    for (auto a : allowed)
      known = known || it.key() == a;
    if (!known)
      return "unknown argument '" + it.key() + "'";
  }
  return std::nullopt;
}

translated fail(std::string message) {
  translated t;
  t.error = std::move(message);
  return t;
}

// Copies the arguments named in `fields` into a REST body.
json body_of(const json& args, std::initializer_list<std::pair<const char*, const char*>> fields) {
  json body = json::object();
  for (auto [arg, field] : fields)
    if (auto it = args.find(arg); it != args.end() && !it->is_null())
      body[field] = *it;
  return body;
}

json playbook_summary_schema() {
  return {{"type", "object"},
          {"properties",
           {{"id", {{"type", "string"}}},
            {"name", {{"type", "string"}}},
            {"description", {{"type", "string"}}},
            {"status", {{"type", "string"}}},
            {"pending_outcomes", {{"type", "integer"}}},
            {"current_version", {{"type", {"object", "null"}}}}}},
          {"required", {"id", "name"}}};
}

std::string limited_text(std::string s) {
  constexpr std::size_t max = 64 * 1024;
  if (s.size() > max)
    s = s.substr(0, max) + "\n…";
  return s;
}

const std::vector<tool>& tools() {
  static const std::vector<tool> table = [] {
    std::vector<tool> t;
    t.push_back(
        {"list_playbooks", "List playbooks",
         "The caller's playbooks, newest first (50 a page; pass next_cursor as cursor for more).",
         "playbooks:read",
         object_schema({{"status", {{"type", "string"}, {"enum", {"active", "archived"}}}},
                        {"cursor", string_schema("next_cursor of the previous page")}},
                       {}),
         object_schema({{"items", {{"type", "array"}, {"items", playbook_summary_schema()}}},
                        {"next_cursor", {{"type", {"string", "null"}}}}},
                       {"items", "next_cursor"}, true),
         [](const json& args) {
           if (auto bad = only(args, {"status", "cursor"}))
             return fail(*bad);
           translated r;
           r.op = endpoint::list_playbooks;
           std::string v;
           if (auto bad = string_arg(args, "status", v, false))
             return fail(*bad);
           if (!v.empty())
             r.query["status"] = v;
           v.clear();
           if (auto bad = string_arg(args, "cursor", v, false))
             return fail(*bad);
           if (!v.empty())
             r.query["cursor"] = v;
           return r;
         },
         [](const json& body, const json&) { return body; }});
    t.push_back(
        {"get_playbook", "Get a playbook",
         "A playbook's content in the ACE format ([id] helpful=H harmful=X :: text). With "
         "`task`, only the bullets that matter for that task, ranked and cut to max_tokens "
         "(cite their ids in report_outcome's bullet_ids). `version` picks an older version, "
         "`section` one section.",
         "playbooks:read",
         object_schema({{"playbook_id", string_schema("the playbook's id")},
                        {"version", int_schema("a version number (default: the current one)", 1)},
                        {"section", string_schema("only this section, e.g. COMMON MISTAKES")},
                        {"task", string_schema("the task at hand: returns the relevant bullets")},
                        {"max_tokens", int_schema("token budget with `task` (default 2000)", 1)}},
                       {"playbook_id"}),
         object_schema({{"playbook_id", {{"type", "string"}}},
                        {"version", {{"type", {"integer", "null"}}}},
                        {"content", {{"type", "string"}}},
                        {"bullet_ids", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                        {"token_estimate", {{"type", "integer"}}},
                        {"total_bullets", {{"type", "integer"}}}},
                       {"playbook_id", "version", "content"}, true),
         [](const json& args) {
           if (auto bad = only(args, {"playbook_id", "version", "section", "task", "max_tokens"}))
             return fail(*bad);
           translated r;
           std::string id, task, section;
           if (auto bad = string_arg(args, "playbook_id", id, true))
             return fail(*bad);
           if (auto bad = string_arg(args, "task", task, false))
             return fail(*bad);
           if (auto bad = string_arg(args, "section", section, false))
             return fail(*bad);
           for (const char* n : {"version", "max_tokens"})
             if (args.contains(n) && !args[n].is_null() && !args[n].is_number_integer())
               return fail(std::string{n} + " must be an integer");
           if (args.contains("max_tokens") && !args["max_tokens"].is_null() && task.empty())
             return fail("max_tokens needs task");
           r.params = {id};
           if (!task.empty()) {
             r.op = endpoint::playbook_context;
             r.query["task"] = task;
             if (args.contains("max_tokens") && !args["max_tokens"].is_null())
               r.query["max_tokens"] = std::to_string(args["max_tokens"].get<std::int64_t>());
             if (args.contains("version") && !args["version"].is_null())
               r.query["version"] = std::to_string(args["version"].get<std::int64_t>());
           } else if (args.contains("version") && !args["version"].is_null()) {
             r.op = endpoint::get_version;
             r.params.push_back(std::to_string(args["version"].get<std::int64_t>()));
           } else {
             r.op = endpoint::get_playbook;
           }
           return r;
         },
         [](const json& body, const json& args) {
           json out;
           if (body.contains("bullet_ids")) { // context
             out = body;
             out.erase("max_tokens");
           } else if (body.contains("number")) { // a version
             out = {{"playbook_id", args["playbook_id"]},
                    {"version", body["number"]},
                    {"content", body["content"]},
                    {"token_estimate", body.value("token_estimate", 0)}};
           } else {
             const auto& v = body["current_version"];
             out = {{"playbook_id", body["id"]},
                    {"version", v.is_null() ? json(nullptr) : v["number"]},
                    {"content", v.is_null() ? "" : v["content"].get<std::string>()},
                    {"token_estimate", v.is_null() ? 0 : v.value("token_estimate", 0)}};
           }
           return out;
         }});
    t.push_back(
        {"find_playbook", "Find a playbook",
         "The caller's active playbook that best matches a task, with up to four runners-up.",
         "playbooks:read",
         object_schema({{"task_description", string_schema("the task at hand")}},
                       {"task_description"}),
         object_schema({{"best", {{"type", {"object", "null"}}}},
                        {"items", {{"type", "array"}, {"items", {{"type", "object"}}}}}},
                       {"best", "items"}, true),
         [](const json& args) {
           translated r;
           r.op = endpoint::find_playbook;
           r.body = args;
           return r;
         },
         [](const json& body, const json&) { return body; }});
    t.push_back(
        {"create_playbook", "Create a playbook",
         "A new playbook; initial_content (ACE or plain markdown bullets) becomes version 1.",
         "playbooks:write",
         object_schema({{"name", string_schema("the playbook's name")},
                        {"description", string_schema("what it is for")},
                        {"initial_content", string_schema("ACE text or markdown bullets")},
                        {"evolution_threshold", int_schema("outcomes that trigger an evolution", 1)}},
                       {"name"}),
         playbook_summary_schema(),
         [](const json& args) {
           if (auto bad = only(args, {"name", "description", "initial_content", "evolution_threshold"}))
             return fail(*bad);
           translated r;
           r.op = endpoint::create_playbook;
           r.body = body_of(args, {{"name", "name"},
                                   {"description", "description"},
                                   {"initial_content", "content"},
                                   {"evolution_threshold", "evolution_threshold"}});
           return r;
         },
         [](const json& body, const json&) { return body; }});
    t.push_back(
        {"create_version", "Create a version",
         "A new version of a playbook from the given content (ACE or markdown bullets).",
         "playbooks:write",
         object_schema({{"playbook_id", string_schema("the playbook's id")},
                        {"content", string_schema("the whole new content")},
                        {"diff_summary", string_schema("what changed, in a sentence")}},
                       {"playbook_id", "content"}),
         object_schema({{"number", {{"type", "integer"}}},
                        {"content", {{"type", "string"}}},
                        {"bullet_count", {{"type", "integer"}}}},
                       {"number", "content"}, true),
         [](const json& args) {
           if (auto bad = only(args, {"playbook_id", "content", "diff_summary"}))
             return fail(*bad);
           translated r;
           std::string id;
           if (auto bad = string_arg(args, "playbook_id", id, true))
             return fail(*bad);
           r.op = endpoint::create_version;
           r.params = {id};
           r.body = body_of(args, {{"content", "content"}, {"diff_summary", "diff_summary"}});
           return r;
         },
         [](const json& body, const json&) { return body; }});
    auto report = tool{
        "report_outcome", "Report an outcome",
        "Records how a task went with the playbook: success, failure or partial, with the ids of "
        "the bullets that were used. Enough outcomes trigger an evolution.",
        "outcomes:write",
        object_schema({{"playbook_id", string_schema("the playbook's id")},
                       {"task_description", string_schema("the task")},
                       {"outcome", {{"type", "string"}, {"enum", {"success", "failure", "partial"}}}},
                       {"notes", string_schema("what went well or wrong")},
                       {"reasoning_trace", string_schema("the agent's reasoning")},
                       {"bullet_ids", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                       {"metadata", {{"type", "object"}}},
                       {"idempotency_key", string_schema("the same key records the outcome once")}},
                      {"playbook_id", "task_description", "outcome"}),
        object_schema({{"outcome_id", {{"type", "string"}}},
                       {"status", {{"type", "string"}}},
                       {"pending_outcomes", {{"type", "integer"}}},
                       {"evolution", {{"type", {"object", "null"}}}}},
                      {"outcome_id", "status"}, true),
        [](const json& args) {
          if (auto bad = only(args, {"playbook_id", "task_description", "outcome", "notes",
                                     "reasoning_trace", "bullet_ids", "metadata", "idempotency_key"}))
            return fail(*bad);
          translated r;
          std::string id, key;
          if (auto bad = string_arg(args, "playbook_id", id, true))
            return fail(*bad);
          if (auto bad = string_arg(args, "idempotency_key", key, false))
            return fail(*bad);
          r.to = target::ingestion;
          r.op = endpoint::record_outcome;
          r.params = {id};
          if (!key.empty())
            r.headers["idempotency-key"] = key;
          r.body = body_of(args, {{"task_description", "task_description"},
                                  {"outcome", "outcome"},
                                  {"notes", "notes"},
                                  {"reasoning_trace", "reasoning_trace"},
                                  {"bullet_ids", "bullet_ids"},
                                  {"metadata", "metadata"}});
          return r;
        },
        [](const json& body, const json&) { return body; }};
    t.push_back(report);
    report.name = "record_outcome";
    report.description = "The same as report_outcome (the ACE platform's name for it).";
    t.push_back(report);
    t.push_back(
        {"trigger_evolution", "Trigger an evolution",
         "Starts an evolution of the playbook from its pending outcomes (or returns the active "
         "one); follow it with get_evolution_status.",
         "evolution:write",
         object_schema({{"playbook_id", string_schema("the playbook's id")},
                        {"force", {{"type", "boolean"}, {"description", "even without pending outcomes"}}}},
                       {"playbook_id"}),
         object_schema({{"job_id", {{"type", "string"}}},
                        {"is_new", {{"type", "boolean"}}},
                        {"status", {{"type", "string"}}}},
                       {"job_id", "is_new", "status"}, true),
         [](const json& args) {
           if (auto bad = only(args, {"playbook_id", "force"}))
             return fail(*bad);
           translated r;
           std::string id;
           if (auto bad = string_arg(args, "playbook_id", id, true))
             return fail(*bad);
           r.to = target::jobs;
           r.op = endpoint::trigger_evolution;
           r.params = {id};
           r.body = body_of(args, {{"force", "force"}});
           return r;
         },
         [](const json& body, const json&) { return body; }});
    t.push_back(
        {"get_evolution_status", "Evolution status",
         "An evolution job's status, progress, versions and result.", "evolution:read",
         object_schema({{"job_id", string_schema("the job id trigger_evolution returned")}},
                       {"job_id"}),
         object_schema({{"id", {{"type", "string"}}},
                        {"kind", {{"type", "string"}}},
                        {"status", {{"type", "string"}}}},
                       {"id", "status"}, true),
         [](const json& args) {
           if (auto bad = only(args, {"job_id"}))
             return fail(*bad);
           translated r;
           std::string id;
           if (auto bad = string_arg(args, "job_id", id, true))
             return fail(*bad);
           r.to = target::jobs;
           r.op = endpoint::get_job;
           r.params = {id};
           return r;
         },
         [](const json& body, const json&) { return body; }});
    return t;
  }();
  return table;
}

const tool* find_tool(const std::string& name) {
  for (const auto& t : tools())
    if (t.name == name)
      return &t;
  return nullptr;
}

// The lines of ACE `content` under "## <section>" (compared without regard
// to case), heading included; nullopt when there is no such section.
std::optional<std::string> only_section(const std::string& content, const std::string& section) {
  using text::upper;
  auto wanted = upper(section);
  std::string out;
  bool inside = false, found = false;
  std::size_t start = 0;
  while (start < content.size()) {
    auto end = content.find('\n', start);
    if (end == std::string::npos)
      end = content.size();
    auto line = content.substr(start, end - start);
    if (line.rfind("## ", 0) == 0) {
      inside = upper(line.substr(3)) == wanted;
      found = found || inside;
    }
    if (inside)
      out += line + "\n";
    start = end + 1;
  }
  if (!found)
    return std::nullopt;
  return out;
}

json tool_error(const std::string& message) {
  return {{"content", json::array({{{"type", "text"}, {"text", message}}})}, {"isError", true}};
}

json tools_list() {
  json list = json::array();
  for (const auto& t : tools())
    list.push_back({{"name", t.name},
                    {"title", t.title},
                    {"description", t.description + " Needs scope " + t.scope + "."},
                    {"inputSchema", t.input_schema},
                    {"outputSchema", t.output_schema}});
  return {{"tools", list}};
}

// ---- the actor ---------------------------------------------------------------

struct mcp_state {
  static inline const char* name = "troupe.mcp";
};

std::string header(const api_request& req, const std::string& name) {
  auto it = req.headers.find(name);
  return it == req.headers.end() ? std::string{} : it->second;
}

// The host[:port] of an Origin ("https://a.example:8443" → "a.example:8443").
std::string origin_authority(const std::string& origin) {
  auto scheme = origin.find("://");
  return scheme == std::string::npos ? origin : origin.substr(scheme + 3);
}

// localhost, 127.0.0.1 or [::1], with or without a port.
bool is_loopback_authority(const std::string& authority) {
  auto host = authority;
  if (host.rfind("[::1]", 0) == 0)
    return host.size() == 5 || host[5] == ':';
  host = host.substr(0, host.find(':'));
  return host == "localhost" || host == "127.0.0.1";
}

// An Origin is accepted when it is listed in mcp.allowed_origins, or when
// both it and the Host are loopback names (a local tool calling a local
// server). Anything else is a web page elsewhere, or one whose name was
// rebound to this address (Origin and Host both evil.example): 403.
bool origin_allowed(const std::string& origin, const std::string& host,
                    const std::vector<std::string>& allowed) {
  if (origin.empty())
    return true;
  auto o = text::lower(origin);
  if (std::find(allowed.begin(), allowed.end(), o) != allowed.end())
    return true;
  return (o.rfind("http://", 0) == 0 || o.rfind("https://", 0) == 0) &&
         is_loopback_authority(origin_authority(o)) && is_loopback_authority(text::lower(host));
}

std::optional<api_response> check_transport(const api_request& req,
                                            const std::vector<std::string>& allowed) {
  auto origin = header(req, "origin");
  if (!origin_allowed(origin, header(req, "host"), allowed))
    return error_response(403, "permission_denied",
                          "requests from the web origin " + origin + " are not accepted on /mcp",
                          req.request_id);
  auto version = header(req, "mcp-protocol-version");
  if (!version.empty() &&
      std::find(revisions().begin(), revisions().end(), version) == revisions().end())
    return rpc_error(400, nullptr, invalid_request,
                     "unsupported MCP-Protocol-Version " + version + "; this server speaks " +
                         latest_revision + ", 2025-06-18 and 2025-03-26");
  return std::nullopt;
}

api_actor::behavior_type mcp(api_actor::stateful_pointer<mcp_state> self, mcp_targets targets,
                             mcp_options options) {
  for (auto& o : options.allowed_origins) {
    o = text::lower(o);
    while (!o.empty() && o.back() == '/')
      o.pop_back();
  }
  return {
      [=](api_request& req) -> caf::result<api_response> {
        if (auto refused = check_transport(req, options.allowed_origins))
          return *refused;
        auto msg = json::parse(req.body, nullptr, false);
        if (msg.is_discarded())
          return rpc_error(400, nullptr, parse_error, "the body is not JSON");
        if (!msg.is_object())
          return rpc_error(400, nullptr, invalid_request,
                           msg.is_array() ? "batches are not supported: send one request per POST"
                                          : "a JSON-RPC message is an object");
        json id = msg.contains("id") ? msg["id"] : json(nullptr);
        if (msg.value("jsonrpc", json(nullptr)) != "2.0")
          return rpc_error(400, id, invalid_request, "jsonrpc must be \"2.0\"");
        if (!msg.contains("method")) {
          if (msg.contains("result") || msg.contains("error"))
            return api_response{202, "", {}}; // a response to nothing we asked: accepted
          return rpc_error(400, id, invalid_request, "method is required");
        }
        if (!msg["method"].is_string())
          return rpc_error(400, id, invalid_request, "method must be a string");
        if (msg.contains("id") && !id.is_string() && !id.is_number_integer())
          return rpc_error(400, nullptr, invalid_request, "id must be a string or an integer");
        auto method = msg["method"].get<std::string>();
        bool notification = !msg.contains("id");
        if (notification)
          return api_response{202, "", {}};
        json params = msg.value("params", json::object());
        if (!params.is_object())
          return rpc_error(200, id, invalid_params, "params must be an object");
        if (method == "initialize") {
          auto asked = params.value("protocolVersion", json(nullptr));
          if (!asked.is_string())
            return rpc_error(200, id, invalid_params, "protocolVersion is required");
          auto chosen = std::find(revisions().begin(), revisions().end(),
                                  asked.get<std::string>()) != revisions().end()
                            ? asked.get<std::string>()
                            : std::string{latest_revision};
          return rpc_result(
              id, {{"protocolVersion", chosen},
                   {"capabilities", {{"tools", {{"listChanged", false}}}}},
                   {"serverInfo", {{"name", "troupe"}, {"title", "troupe playbooks"}, {"version", options.version}}},
                   {"instructions",
                    "Playbooks of strategies for agents. Before a task: find_playbook, then "
                    "get_playbook with the task. After it: report_outcome with the bullet ids "
                    "you used."}});
        }
        if (method == "ping")
          return rpc_result(id, json::object());
        if (method == "tools/list")
          return rpc_result(id, tools_list());
        if (method != "tools/call")
          return rpc_error(200, id, method_not_found, "method " + method + " is not supported");
        if (!params.contains("name") || !params["name"].is_string())
          return rpc_error(200, id, invalid_params, "params.name must name a tool");
        const tool* t = find_tool(params["name"].get<std::string>());
        if (!t)
          return rpc_error(200, id, invalid_params,
                           "unknown tool " + params["name"].get<std::string>());
        json args = params.value("arguments", json::object());
        if (!args.is_object())
          return rpc_error(200, id, invalid_params, "params.arguments must be an object");
        if (!auth::scope_allows(req.caller.scopes, t->scope))
          return rpc_result(id, tool_error("this credential lacks the scope " + t->scope +
                                           " that " + t->name + " needs"));
        auto call = t->translate(args);
        if (call.error)
          return rpc_result(id, tool_error(*call.error));
        api_request inner;
        inner.request_id = req.request_id;
        inner.op = call.op;
        inner.method = "MCP";
        inner.route = "/mcp " + t->name;
        inner.params = std::move(call.params);
        inner.query = std::move(call.query);
        inner.headers = std::move(call.headers);
        if (!call.body.is_null())
          inner.body = call.body.dump();
        inner.caller = req.caller;
        inner.client_address = req.client_address;
        auto to = call.to == target::ingestion ? targets.ingestion
                  : call.to == target::jobs    ? targets.jobs
                                               : targets.playbooks;
        auto promise = self->make_response_promise<api_response>();
        self->request(to, caf::infinite, std::move(inner))
            .then(
                [=](api_response& r) mutable {
                  auto body = json::parse(r.body, nullptr, false);
                  if (r.status >= 300 || body.is_discarded()) {
                    std::string message = "request failed";
                    if (!body.is_discarded() && body.contains("error"))
                      message = body["error"].value("message", message) + " (" +
                                body["error"].value("code", "error") + ")";
                    promise.deliver(rpc_result(id, tool_error(message)));
                    return;
                  }
                  if (t->name == "get_evolution_status" && body.value("kind", "") != "evolution") {
                    promise.deliver(
                        rpc_result(id, tool_error("no evolution job with this id (not_found)")));
                    return;
                  }
                  auto structured = t->shape(body, args);
                  if (t->name == "get_playbook" && args.contains("section") &&
                      args["section"].is_string()) {
                    auto part = only_section(structured.value("content", ""),
                                             args["section"].get<std::string>());
                    if (!part) {
                      promise.deliver(rpc_result(
                          id, tool_error("the playbook has no section named " +
                                         args["section"].get<std::string>())));
                      return;
                    }
                    structured["content"] = *part;
                  }
                  std::string text = structured.contains("content") && structured["content"].is_string()
                                         ? structured["content"].get<std::string>()
                                         : structured.dump(2);
                  promise.deliver(rpc_result(
                      id, {{"content", json::array({{{"type", "text"}, {"text", limited_text(text)}}})},
                           {"structuredContent", structured},
                           {"isError", false}}));
                },
                [=](caf::error& e) mutable {
                  log::error("MCP tool call failed inside the node",
                             {{"request_id", id.dump()}, {"error", caf::to_string(e)}});
                  promise.deliver(rpc_result(id, tool_error("internal error")));
                });
        return promise;
      },
  };
}

} // namespace

api_actor spawn_mcp(caf::actor_system& sys, mcp_targets targets, mcp_options options) {
  return sys.spawn(mcp, std::move(targets), std::move(options));
}

} // namespace troupe::gateway
