// The pure part of the MCP server (gateway/mcp.hpp): reading a request and
// shaping a tool's answer, including inputs the fuzz target found.
#include "actors/ingestion/portability.hpp"
#include "gateway/mcp.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace troupe::gateway;
using json = nlohmann::json;

namespace {

api_request post(const std::string& body) {
  api_request req;
  req.request_id = "t";
  req.op = endpoint::mcp;
  req.body = body;
  req.caller.user_id = "0190c0de-0000-7000-8000-000000000001";
  req.caller.scopes = {"*"};
  req.headers["host"] = "127.0.0.1:8080";
  return req;
}

const mcp_options options = normalized({"test", {"https://Agents.Example/"}});

TEST(McpRead, AToolCallBecomesItsRestOperationForTheSameCaller) {
  auto step = read_mcp_request(
      post(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"report_outcome",)"
           R"("arguments":{"playbook_id":"p","task_description":"t","outcome":"success","idempotency_key":"k"}}})"),
      options);
  ASSERT_TRUE(std::holds_alternative<mcp_tool_call>(step));
  const auto& call = std::get<mcp_tool_call>(step);
  EXPECT_EQ(call.to, mcp_target::ingestion);
  EXPECT_EQ(call.inner.op, endpoint::record_outcome);
  EXPECT_EQ(call.inner.params, std::vector<std::string>{"p"});
  EXPECT_EQ(call.inner.headers.at("idempotency-key"), "k");
  EXPECT_EQ(call.inner.caller.user_id, "0190c0de-0000-7000-8000-000000000001");
  EXPECT_EQ(json::parse(call.inner.body), (json{{"task_description", "t"}, {"outcome", "success"}}));
}

// Found in review: nesting is counted before the body is parsed, as a copy
// of a deep value would recurse through the stack.
TEST(McpRead, DeepNestingIsRefusedBeforeParsing) {
  std::string deep = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_playbook","arguments":{"x":)";
  deep += std::string(200000, '[') + std::string(200000, ']') + "}}}";
  auto answer = std::get<api_response>(read_mcp_request(post(deep), options));
  EXPECT_EQ(answer.status, 400);
  EXPECT_EQ(json::parse(answer.body)["error"]["code"], -32700);
}

TEST(McpRead, ListedOriginsAreComparedWithoutCaseOrTrailingSlash) {
  auto req = post(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  req.headers["origin"] = "https://agents.example";
  EXPECT_EQ(std::get<api_response>(read_mcp_request(req, options)).status, 200);
  req.headers["origin"] = "https://agents.example.evil";
  EXPECT_EQ(std::get<api_response>(read_mcp_request(req, options)).status, 403);
}

// Found by fuzz_mcp: a REST answer without the members a tool's shape reads
// (a bug on troupe's side if it ever happened) tripped an assertion in the
// JSON library; it is an "internal error" tool result now.
TEST(McpAnswer, AnUnexpectedRestAnswerIsAToolErrorNotACrash) {
  auto step = read_mcp_request(
      post(R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"get_playbook",)"
           R"("arguments":{"playbook_id":"0190c0de-0000-7000-8000-000000000002"}}})"),
      options);
  const auto& call = std::get<mcp_tool_call>(step);
  for (const char* body : {"{}", "[]", "3", "not json", R"({"current_version":7})"}) {
    api_response rest{200, body, {}};
    auto answer = answer_tool_call(call, rest);
    ASSERT_EQ(answer.status, 200) << body;
    auto doc = json::parse(answer.body);
    EXPECT_EQ(doc["id"], 6);
    EXPECT_TRUE(doc["result"].contains("isError")) << body << " → " << answer.body;
  }
  api_response refused{404, R"({"error":{"code":"not_found","message":"playbook not found"}})", {}};
  auto doc = json::parse(answer_tool_call(call, refused).body);
  EXPECT_EQ(doc["result"]["isError"], true);
  EXPECT_EQ(doc["result"]["content"][0]["text"], "playbook not found (not_found)");
  api_response odd{500, R"({"error":{"message":7}})", {}};
  EXPECT_EQ(json::parse(answer_tool_call(call, odd).body)["result"]["content"][0]["text"], "request failed");
}

TEST(ImportTimestamps, OnlyRealRfc3339InstantsPass) {
  for (const char* ok : {"2026-12-02T14:20:00Z", "2026-12-02t14:20:00.123456789z", "2028-02-29T23:59:59-12:00",
                         "2026-12-02T14:20:00+05:30", "2026-12-02T14:20:00+15:59", "9998-12-31T23:59:59Z"})
    EXPECT_TRUE(ingestion::is_rfc3339(ok)) << ok;
  for (const char* bad : {"", "2026-12-02", "2026-02-30T00:00:00Z", "2027-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
                          "2026-12-02T24:00:00Z", "2026-12-02T14:20:60Z", "2026-12-02T14:20:00", "2026-12-02T14:20:00.Z",
                          "2026-12-02T14:20:00.1234567891Z", "2026-12-02T14:20:00+24:00", "2026-12-02 14:20:00Z",
                          "0000-01-01T00:00:00Z", "2026-12-02T14:20:00Zjunk",
                          // Postgres refuses offsets past ±15:59; year 9999-12-31 minus 5 h is year 10000
                          "2026-12-02T14:20:00+16:00", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00Z"})
    EXPECT_FALSE(ingestion::is_rfc3339(bad)) << bad;
}

} // namespace
