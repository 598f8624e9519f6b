// The MCP server (docs/mcp.md): JSON-RPC 2.0 over Streamable HTTP on
// POST /mcp. A tool call becomes the api_request of the REST operation it
// stands for, sent to the same domain actor, so validation, limits and
// tenancy are REST's.
#pragma once

#include "messages/api.hpp"

#include <caf/all.hpp>
#include <string>
#include <vector>

namespace troupe::gateway {

struct mcp_targets {
  api_actor playbooks;
  api_actor ingestion;
  api_actor jobs;
};

struct mcp_options {
  std::string version;                      // serverInfo.version
  std::vector<std::string> allowed_origins; // mcp.allowed_origins, besides the Host's own
};

// Answers api_requests of endpoint::mcp (the caller already authenticated
// and counted by the gateway).
api_actor spawn_mcp(caf::actor_system& sys, mcp_targets targets, mcp_options options);

} // namespace troupe::gateway
