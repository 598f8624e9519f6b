// libFuzzer target: POST /mcp as far as it goes without an actor — the
// transport's checks (Origin, MCP-Protocol-Version, the stateless
// revision's headers), the JSON-RPC envelope, initialize, tools/list, and a
// tool call's arguments translated into its REST request; then the tool's
// answer shaped from a REST body taken from the same input. Every answer
// must be a status the transport documents with a JSON (or empty) body, and
// nothing may throw.
#include "gateway/mcp.hpp"

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

using namespace troupe;
using namespace troupe::gateway;

namespace {

void check(const api_response& r) {
  static const std::set<int> allowed = {200, 202, 400, 403, 404};
  if (!allowed.count(r.status))
    std::abort();
  if (!r.body.empty() && nlohmann::json::parse(r.body, nullptr, false).is_discarded())
    std::abort();
  if (r.status == 202 && !r.body.empty())
    std::abort();
}

} // namespace

// Input: one byte choosing the headers, then the JSON-RPC body, then
// optionally "\n--rest--\n" and the REST answer's body a tool call gets.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  static const mcp_options options = normalized({"0.0.0-fuzz", {"https://Agents.Example/"}});
  std::string input{reinterpret_cast<const char*>(data) + 1, size - 1};
  std::string rest_body = "{}";
  if (auto cut = input.find("\n--rest--\n"); cut != std::string::npos) {
    rest_body = input.substr(cut + 10);
    input.resize(cut);
  }
  api_request req;
  req.request_id = "f";
  req.op = endpoint::mcp;
  req.method = "POST";
  req.body = input;
  req.caller.user_id = "0190c0de-0000-7000-8000-000000000001";
  req.caller.scopes = (data[0] & 1) ? std::vector<std::string>{"*"}
                                    : std::vector<std::string>{"playbooks:read"};
  req.headers["host"] = "127.0.0.1:8080";
  if (data[0] & 2)
    req.headers["origin"] = (data[0] & 4) ? "http://localhost:3000" : "https://evil.example";
  if (data[0] & 8)
    req.headers["mcp-protocol-version"] = (data[0] & 16) ? "2026-07-28" : "2025-11-25";
  if (data[0] & 32)
    req.headers["mcp-method"] = (data[0] & 64) ? "tools/call" : "tools/list";
  if (data[0] & 128)
    req.headers["mcp-name"] = "=?base64?Z2V0X3BsYXlib29r?=";
  auto step = read_mcp_request(req, options);
  if (auto* answer = std::get_if<api_response>(&step)) {
    check(*answer);
    return 0;
  }
  const auto& call = std::get<mcp_tool_call>(step);
  if (call.inner.caller.user_id != req.caller.user_id || call.inner.op == endpoint::mcp)
    std::abort(); // a tool call runs as its caller, and never as MCP again
  for (int status : {200, 201, 404}) {
    api_response rest;
    rest.status = static_cast<std::uint16_t>(status);
    rest.body = rest_body;
    auto answer = answer_tool_call(call, rest);
    if (answer.status != 200)
      std::abort();
    check(answer);
  }
  check(tool_call_failed(call));
  return 0;
}
