// The MCP server (docs/mcp.md): JSON-RPC 2.0 over Streamable HTTP on
// POST /mcp. A tool call becomes the api_request of the REST operation it
// stands for, sent to the same domain actor, so validation, limits and
// tenancy are REST's.
#pragma once

#include "messages/api.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <variant>
#include <string>
#include <vector>

namespace troupe::gateway {

struct mcp_targets {
  api_actor playbooks;
  api_actor ingestion;
  api_actor jobs;
  api_actor projects;
};

struct mcp_options {
  std::string version;                      // serverInfo.version
  std::vector<std::string> allowed_origins; // mcp.allowed_origins, besides loopback ones
};

// ---- the pure part, for the actor and the fuzz target ------------------------

enum class mcp_target { playbooks, ingestion, jobs, projects };

// A tool call read from a request: the REST operation to run, and what the
// answer is shaped with.
struct mcp_tool_call {
  std::string tool;
  nlohmann::json id;
  nlohmann::json args;
  bool stateless = false; // 2026-07-28: results carry resultType and _meta
  std::string version;    // serverInfo.version
  mcp_target to = mcp_target::playbooks;
  api_request inner;
};

// What a POST /mcp asks for: an answer at once (a refusal, initialize,
// tools/list, a tool error…), or a tool call to run. `options` as
// normalized() returns them.
using mcp_step = std::variant<api_response, mcp_tool_call>;
mcp_step read_mcp_request(const api_request& req, const mcp_options& options);

// The answer to a tool call once its REST operation answered `rest`, or
// could not be asked.
api_response answer_tool_call(const mcp_tool_call& call, const api_response& rest);
api_response tool_call_failed(const mcp_tool_call& call);

// Origins lower-cased, without a trailing slash.
mcp_options normalized(mcp_options options);

// Answers api_requests of endpoint::mcp (the caller already authenticated
// and counted by the gateway).
api_actor spawn_mcp(caf::actor_system& sys, mcp_targets targets, mcp_options options);

} // namespace troupe::gateway
