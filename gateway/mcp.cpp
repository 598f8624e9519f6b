#include "gateway/mcp.hpp"

#include "auth/credentials.hpp"
#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/input.hpp"
#include "runtime/log.hpp"
#include "text/ascii.hpp"

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>

namespace troupe::gateway {
namespace {

using json = nlohmann::json;

// The handshake revisions (initialize), newest first, and the stateless
// one (per-request _meta, server/discover).
constexpr const char* latest_revision = "2025-11-25";
constexpr const char* stateless_revision = "2026-07-28";
const std::vector<std::string>& revisions() {
  static const std::vector<std::string> r = {"2025-11-25", "2025-06-18", "2025-03-26"};
  return r;
}
bool known_revision(const std::string& v) {
  return v == stateless_revision ||
         std::find(revisions().begin(), revisions().end(), v) != revisions().end();
}

// _meta keys of the stateless revision.
constexpr const char* meta_version = "io.modelcontextprotocol/protocolVersion";
constexpr const char* meta_capabilities = "io.modelcontextprotocol/clientCapabilities";
constexpr const char* meta_server_info = "io.modelcontextprotocol/serverInfo";

// JSON-RPC error codes.
constexpr int parse_error = -32700;
constexpr int invalid_request = -32600;
constexpr int method_not_found = -32601;
constexpr int invalid_params = -32602;
constexpr int header_mismatch = -32020;       // 2026-07-28: a header disagrees with the body
constexpr int unsupported_version = -32022;   // 2026-07-28: _meta names a revision not spoken

api_response rpc_error(std::uint16_t http_status, const json& id, int code,
                       const std::string& message, json data = nullptr) {
  json error = {{"code", code}, {"message", message}};
  if (!data.is_null())
    error["data"] = std::move(data);
  return json_response(http_status, {{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}});
}

api_response rpc_result(const json& id, json result) {
  return json_response(200, {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
}

// ---- tools ---------------------------------------------------------------


// What a tool call becomes: the REST operation's request, or a tool error.
struct translated {
  std::optional<std::string> error;
  mcp_target to = mcp_target::playbooks;
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
  // The structured result from the REST answer's body (2xx); none: the body.
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

// A member of an object, or null (for a missing member or a non-object).
const json& member(const json& j, const char* key) {
  static const json null = nullptr;
  if (!j.is_object())
    return null;
  auto it = j.find(key);
  return it == j.end() ? null : *it;
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
         {}});
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
             out = {{"playbook_id", member(args, "playbook_id")},
                    {"version", member(body, "number")},
                    {"content", member(body, "content")},
                    {"token_estimate", member(body, "token_estimate")}};
           } else {
             const auto& v = member(body, "current_version");
             out = {{"playbook_id", member(body, "id")},
                    {"version", member(v, "number")},
                    {"content", v.is_null() ? json("") : member(v, "content")},
                    {"token_estimate", v.is_null() ? json(0) : member(v, "token_estimate")}};
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
         {}});
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
         {}});
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
         {}});
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
          r.to = mcp_target::ingestion;
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
        {}};
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
           r.to = mcp_target::jobs;
           r.op = endpoint::trigger_evolution;
           r.params = {id};
           r.body = body_of(args, {{"force", "force"}});
           return r;
         },
         {}});
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
           r.to = mcp_target::jobs;
           r.op = endpoint::get_job;
           r.params = {id};
           return r;
         },
         // Without the rounds (proposals and votes): REST shows those to
         // jobs:read, which this tool's evolution:read is not.
         [](const json& body, const json&) {
           json out = body;
           out.erase("rounds");
           return out;
         }});
    t.push_back(
        {"get_system_map", "System map of a project",
         "The newest system map of a project's repository (docs/system-map.md): languages, "
         "modules and their dependencies, external dependencies, entry points, tests, docs, "
         "the README's summary and the history.",
         "projects:read",
         object_schema({{"project_id", string_schema("the project's id")}}, {"project_id"}),
         object_schema({{"schema", {{"type", "string"}}},
                        {"languages", {{"type", "array"}}},
                        {"modules", {{"type", "array"}}},
                        {"dependencies", {{"type", "array"}}}},
                       {"schema", "languages", "modules", "dependencies"}, true),
         [](const json& args) {
           if (auto bad = only(args, {"project_id"}))
             return fail(*bad);
           translated r;
           std::string id;
           if (auto bad = string_arg(args, "project_id", id, true))
             return fail(*bad);
           r.to = mcp_target::projects;
           r.op = endpoint::get_system_map;
           r.params = {id};
           return r;
         },
         {}});
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
  if (!version.empty() && !known_revision(version))
    return rpc_error(400, nullptr, invalid_request,
                     "unsupported MCP-Protocol-Version " + version + "; this server speaks " +
                         stateless_revision + ", " + latest_revision + ", 2025-06-18 and 2025-03-26");
  return std::nullopt;
}

// A header value in the 2026-07-28 form "=?base64?…?=" decoded, or as sent.
std::string header_value(const std::string& v) {
  if (v.size() < 11 || v.rfind("=?base64?", 0) != 0 || v.compare(v.size() - 2, 2, "?=") != 0)
    return v;
  // Not base64 after all: compared as sent.
  return crypto::base64_decode(std::string_view{v}.substr(9, v.size() - 11)).value_or(v);
}

// A stateless (2026-07-28) request: its _meta, checked against the headers
// that must repeat it. Nullopt when it is well formed.
std::optional<api_response> check_stateless(const api_request& req, const json& id,
                                            const std::string& method, const json& params,
                                            const json& meta) {
  auto version = meta[meta_version];
  if (!version.is_string())
    return rpc_error(400, id, invalid_params, std::string{meta_version} + " must be a string");
  if (version != stateless_revision)
    return rpc_error(400, id, unsupported_version, "Unsupported protocol version",
                     {{"supported", {stateless_revision, "2025-11-25", "2025-06-18", "2025-03-26"}},
                      {"requested", version}});
  if (!meta.contains(meta_capabilities) || !meta[meta_capabilities].is_object())
    return rpc_error(400, id, invalid_params, std::string{meta_capabilities} + " must be an object");
  auto mismatch = [&](const std::string& name, const std::string& want) -> std::optional<api_response> {
    auto it = req.headers.find(name);
    if (it == req.headers.end())
      return rpc_error(400, id, header_mismatch, "Header mismatch: the " + name + " header is required");
    if (header_value(it->second) != want)
      return rpc_error(400, id, header_mismatch,
                       "Header mismatch: " + name + " header value '" + it->second +
                           "' does not match body value '" + want + "'");
    return std::nullopt;
  };
  if (auto bad = mismatch("mcp-protocol-version", stateless_revision))
    return bad;
  if (auto bad = mismatch("mcp-method", method))
    return bad;
  if (method == "tools/call" && params.contains("name") && params["name"].is_string())
    if (auto bad = mismatch("mcp-name", params["name"].get<std::string>()))
      return bad;
  return std::nullopt;
}

const char* instructions =
    "Playbooks of strategies for agents. Before a task: find_playbook, then get_playbook with "
    "the task. After it: report_outcome with the bullet ids you used.";

json capabilities() { return {{"tools", {{"listChanged", false}}}}; }

// A result as the request's era has it: the stateless revision adds
// resultType and the server's identity.
api_response era_result(const json& id, json r, bool stateless, const std::string& version) {
  if (stateless) {
    r["resultType"] = "complete";
    r["_meta"] = {{meta_server_info, {{"name", "troupe"}, {"version", version}}}};
  }
  return rpc_result(id, std::move(r));
}

} // namespace

// ---- reading a request ---------------------------------------------------------

mcp_step read_mcp_request(const api_request& req, const mcp_options& options) {
  if (auto refused = check_transport(req, options.allowed_origins))
    return *refused;
  // Depth first: copying a deeply nested value recurses (as REST bodies,
  // 64 levels at most, counted before parsing).
  std::string problem;
  if (!input::well_formed_json(req.body, problem))
    return rpc_error(400, nullptr, parse_error, "the body is not JSON: " + problem);
  auto msg = json::parse(req.body, nullptr, false);
  if (msg.is_discarded())
    return rpc_error(400, nullptr, parse_error, "the body is not JSON");
  if (!msg.is_object())
    return rpc_error(400, nullptr, invalid_request,
                     msg.is_array() ? "batches are not supported: send one request per POST"
                                    : "a JSON-RPC message is an object");
  json id = msg.contains("id") ? msg["id"] : json(nullptr);
  if (msg.contains("id") && !id.is_string() && !id.is_number_integer())
    return rpc_error(400, nullptr, invalid_request, "id must be a string or an integer");
  if (msg.value("jsonrpc", json(nullptr)) != "2.0")
    return rpc_error(400, id, invalid_request, "jsonrpc must be \"2.0\"");
  if (!msg.contains("method")) {
    if (msg.contains("result") || msg.contains("error"))
      return api_response{202, "", {}}; // a response to nothing troupe asked: accepted
    return rpc_error(400, id, invalid_request, "method is required");
  }
  if (!msg["method"].is_string())
    return rpc_error(400, id, invalid_request, "method must be a string");
  auto method = msg["method"].get<std::string>();
  if (!msg.contains("id"))
    return api_response{202, "", {}}; // a notification: nothing to answer
  json params = msg.contains("params") ? msg["params"] : json::object();
  if (!params.is_object())
    return rpc_error(200, id, invalid_params, "params must be an object");
  // The stateless revision names itself in every request's _meta.
  bool stateless = false;
  if (params.contains("_meta")) {
    const auto& meta = params["_meta"];
    if (!meta.is_object())
      return rpc_error(400, id, invalid_params, "params._meta must be an object");
    if (meta.contains(meta_version)) {
      if (auto refused = check_stateless(req, id, method, params, meta))
        return *refused;
      stateless = true;
    }
  }
  auto result = [&](json r) { return era_result(id, std::move(r), stateless, options.version); };
  if (method == "server/discover")
    return result({{"supportedVersions", {stateless_revision, "2025-11-25", "2025-06-18", "2025-03-26"}},
                   {"capabilities", capabilities()},
                   {"instructions", instructions},
                   {"ttlMs", 3600000},
                   {"cacheScope", "public"}});
  if (method == "tools/list") {
    auto list = tools_list();
    if (stateless) {
      list["ttlMs"] = 3600000;
      list["cacheScope"] = "public"; // the same tools for every caller
    }
    return result(std::move(list));
  }
  if (!stateless && method == "initialize") {
    auto asked = params.value("protocolVersion", json(nullptr));
    if (!asked.is_string())
      return rpc_error(200, id, invalid_params, "protocolVersion is required");
    auto chosen = std::find(revisions().begin(), revisions().end(), asked.get<std::string>()) !=
                          revisions().end()
                      ? asked.get<std::string>()
                      : std::string{latest_revision};
    return rpc_result(id, {{"protocolVersion", chosen},
                           {"capabilities", capabilities()},
                           {"serverInfo",
                            {{"name", "troupe"}, {"title", "troupe playbooks"}, {"version", options.version}}},
                           {"instructions", instructions}});
  }
  if (!stateless && method == "ping")
    return rpc_result(id, json::object());
  if (method != "tools/call")
    // The stateless revision answers an unknown method (initialize and ping
    // included: it has neither) 404.
    return rpc_error(stateless ? 404 : 200, id, method_not_found,
                     "method " + method + " is not supported");
  if (!params.contains("name") || !params["name"].is_string())
    return rpc_error(200, id, invalid_params, "params.name must name a tool");
  const tool* t = find_tool(params["name"].get<std::string>());
  if (!t)
    return rpc_error(200, id, invalid_params, "unknown tool " + params["name"].get<std::string>());
  json args = params.contains("arguments") ? params["arguments"] : json::object();
  if (!args.is_object())
    return rpc_error(200, id, invalid_params, "params.arguments must be an object");
  if (!auth::scope_allows(req.caller.scopes, t->scope))
    return result(tool_error("this credential lacks the scope " + t->scope + " that " + t->name +
                             " needs"));
  auto call = t->translate(args);
  if (call.error)
    return result(tool_error(*call.error));
  mcp_tool_call out;
  out.tool = t->name;
  out.id = id;
  out.args = args;
  out.stateless = stateless;
  out.version = options.version;
  out.to = call.to;
  auto& inner = out.inner;
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
  return out;
}

api_response tool_call_failed(const mcp_tool_call& call) {
  return rpc_result(call.id, tool_error("internal error"));
}

api_response answer_tool_call(const mcp_tool_call& call, const api_response& rest) {
  const tool* t = find_tool(call.tool);
  const auto& args = call.args;
  auto result = [&](json r) { return era_result(call.id, std::move(r), call.stateless, call.version); };
  auto body = json::parse(rest.body, nullptr, false);
  if (rest.status >= 300) {
    const auto& error = member(body, "error");
    const auto& message = member(error, "message");
    const auto& code = member(error, "code");
    return result(tool_error(message.is_string() && code.is_string()
                                 ? message.get<std::string>() + " (" + code.get<std::string>() + ")"
                                 : std::string{"request failed"}));
  }
  if (!body.is_object()) {
    log::error("MCP tool's REST answer is not a JSON object", {{"tool", t->name}});
    return tool_call_failed(call);
  }
  if (t->name == "get_evolution_status" && member(body, "kind") != "evolution")
    return result(tool_error("no evolution job with this id (not_found)"));
  json structured;
  try {
    structured = t->shape ? t->shape(body, args) : body;
  } catch (const json::exception& e) {
    // The REST answer is troupe's own: a shape it does not expect is a bug,
    // answered as one rather than taking the actor down.
    log::error("MCP tool result could not be shaped", {{"tool", t->name}, {"error", e.what()}});
    return tool_call_failed(call);
  }
  if (t->name == "get_playbook" && args.contains("section") && args["section"].is_string()) {
    const auto& content = member(structured, "content");
    auto part = only_section(content.is_string() ? content.get<std::string>() : std::string{},
                             args["section"].get<std::string>());
    if (!part)
      return result(tool_error("the playbook has no section named " +
                               args["section"].get<std::string>()));
    structured["content"] = *part;
  }
  std::string text = structured.contains("content") && structured["content"].is_string()
                         ? structured["content"].get<std::string>()
                         : structured.dump(2);
  return result({{"content", json::array({{{"type", "text"}, {"text", limited_text(text)}}})},
                 {"structuredContent", structured},
                 {"isError", false}});
}

namespace {

// ---- the actor ---------------------------------------------------------------

api_actor::behavior_type mcp(api_actor::stateful_pointer<mcp_state> self, mcp_targets targets,
                             mcp_options options) {
  return {
      [=](api_request& req) -> caf::result<api_response> {
        auto step = read_mcp_request(req, options);
        if (auto* answer = std::get_if<api_response>(&step))
          return std::move(*answer);
        auto call = std::get<mcp_tool_call>(std::move(step));
        auto to = call.to == mcp_target::ingestion  ? targets.ingestion
                  : call.to == mcp_target::jobs     ? targets.jobs
                  : call.to == mcp_target::projects ? targets.projects
                                                    : targets.playbooks;
        auto inner = std::move(call.inner);
        auto promise = self->make_response_promise<api_response>();
        self->request(to, caf::infinite, std::move(inner))
            .then([=](api_response& r) mutable { promise.deliver(answer_tool_call(call, r)); },
                  [=, rid = req.request_id](caf::error& e) mutable {
                    log::error("MCP tool call failed inside the node",
                               {{"request_id", rid}, {"error", caf::to_string(e)}});
                    promise.deliver(tool_call_failed(call));
                  });
        return promise;
      },
  };
}

} // namespace

mcp_options normalized(mcp_options options) {
  for (auto& o : options.allowed_origins) {
    o = text::lower(o);
    while (!o.empty() && o.back() == '/')
      o.pop_back();
  }
  return options;
}

api_actor spawn_mcp(caf::actor_system& sys, mcp_targets targets, mcp_options options) {
  return sys.spawn(mcp, std::move(targets), normalized(std::move(options)));
}

} // namespace troupe::gateway
