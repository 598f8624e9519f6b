// POST /mcp as a client sees it on the wire: the JSON-RPC envelope, the
// transport's refusals and the tools' round trip to the REST handlers. The
// official SDK drives the same server in tests/mcp/.
#include "tests/integration/harness.hpp"

#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace troupe;
using namespace troupe::test;

namespace {

// Where the suite's repositories are (get_system_map needs a project).
temp_dir& repository_root() {
  static temp_dir dir;
  return dir;
}

class Mcp : public node_suite<Mcp> {
public:
  static void configure(config::settings& s) {
    s.mcp.allowed_origins = "https://agents.example";
    s.repository_analyzer.allowed_local_roots = repository_root().path();
  }
};

using headers = std::map<std::string, std::string>;

headers with_key(const std::string& key, headers more = {}) {
  more["Authorization"] = "Bearer " + key;
  return more;
}

response rpc(http_client& c, const std::string& key, const json& message, headers more = {}) {
  return c.send("POST", "/mcp", message.dump(), with_key(key, std::move(more)));
}

json call(http_client& c, const std::string& key, const std::string& tool, const json& args,
          int id = 7) {
  auto r = rpc(c, key,
               {{"jsonrpc", "2.0"},
                {"id", id},
                {"method", "tools/call"},
                {"params", {{"name", tool}, {"arguments", args}}}});
  EXPECT_EQ(r.status, 200) << r.body;
  auto doc = r.doc();
  EXPECT_EQ(doc["id"], id);
  EXPECT_TRUE(doc.contains("result")) << r.body;
  return doc["result"];
}

// The JSON-RPC error code of an answer.
int code_of(const response& r) {
  auto doc = r.doc();
  return doc.is_object() && doc.contains("error") ? doc["error"].value("code", 0) : 0;
}

std::string all_scopes_key(const std::string& address, const user& u) {
  return make_key(address, u,
                  json::array({"playbooks:read", "playbooks:write", "outcomes:write",
                               "evolution:read", "evolution:write", "projects:read"}));
}

const char* ace =
    "## STRATEGIES & INSIGHTS\n"
    "[sai-00001] helpful=0 harmful=0 :: Retry a flaky HTTP request with exponential backoff.\n"
    "[sai-00002] helpful=0 harmful=0 :: Write the changelog entry before tagging a release.\n"
    "## COMMON MISTAKES\n"
    "[err-00003] helpful=0 harmful=0 :: Never retry a POST without an idempotency key.\n";

TEST_F(Mcp, InitializeNegotiatesARevisionAndIssuesNoSession) {
  auto u = make_user(address());
  auto key = all_scopes_key(address(), u);
  http_client c{address()};
  auto init = [&](const std::string& asked) {
    return rpc(c, key,
               {{"jsonrpc", "2.0"},
                {"id", "init-1"},
                {"method", "initialize"},
                {"params",
                 {{"protocolVersion", asked},
                  {"capabilities", json::object()},
                  {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}});
  };
  for (const auto* revision : {"2025-11-25", "2025-06-18", "2025-03-26"}) {
    auto r = init(revision);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("mcp-session-id"), "");
    EXPECT_EQ(r.header("content-type").rfind("application/json", 0), 0u);
    auto doc = r.doc();
    EXPECT_EQ(doc["id"], "init-1");
    EXPECT_EQ(doc["result"]["protocolVersion"], revision);
    EXPECT_EQ(doc["result"]["serverInfo"]["name"], "troupe");
    EXPECT_TRUE(doc["result"]["capabilities"].contains("tools"));
  }
  // A revision troupe does not know gets the newest it speaks.
  EXPECT_EQ(init("1999-01-01").doc()["result"]["protocolVersion"], "2025-11-25");
  // The client's notification is accepted with no body; ping answers {}.
  auto note = rpc(c, key, {{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}},
                  {{"MCP-Protocol-Version", "2025-11-25"}});
  EXPECT_EQ(note.status, 202);
  EXPECT_EQ(note.body, "");
  auto ping = rpc(c, key, {{"jsonrpc", "2.0"}, {"id", 2}, {"method", "ping"}});
  ASSERT_EQ(ping.status, 200);
  EXPECT_EQ(ping.doc()["result"], json::object());
  // Answers carry the credential's rate limit like every REST answer.
  EXPECT_NE(ping.header("x-ratelimit-limit"), "");
}

TEST_F(Mcp, ToolsAreListedWithSchemasAndTheirScopes) {
  auto u = make_user(address());
  auto key = make_key(address(), u, json::array({"playbooks:read"}));
  http_client c{address()};
  auto r = rpc(c, key, {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/list"}});
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<std::string> names;
  auto doc = r.doc();
  for (const auto& t : doc["result"]["tools"]) {
    names.push_back(t["name"]);
    EXPECT_EQ(t["inputSchema"]["type"], "object") << t.dump();
    EXPECT_EQ(t["outputSchema"]["type"], "object") << t.dump();
    EXPECT_NE(t["description"].get<std::string>().find("Needs scope"), std::string::npos);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"list_playbooks", "get_playbook", "find_playbook",
                                             "create_playbook", "create_version", "report_outcome",
                                             "record_outcome", "trigger_evolution",
                                             "get_evolution_status", "get_system_map"}))
      << r.body.substr(0, 300);
}

TEST_F(Mcp, AnAgentFindsReadsReportsAndEvolvesAPlaybookThroughTools) {
  auto u = make_user(address());
  auto key = all_scopes_key(address(), u);
  http_client c{address()};
  auto created = call(c, key, "create_playbook",
                      {{"name", "release hygiene"}, {"initial_content", ace}, {"evolution_threshold", 50}});
  ASSERT_EQ(created["isError"], false) << created.dump();
  auto pb = created["structuredContent"]["id"].get<std::string>();
  // The same playbook through REST: one code path.
  EXPECT_EQ(c.send("GET", "/v1/playbooks/" + pb, "", u.auth()).doc()["name"], "release hygiene");

  auto found = call(c, key, "find_playbook", {{"task_description", "tag a release"}});
  EXPECT_EQ(found["structuredContent"]["best"]["id"], pb) << found.dump();

  auto context = call(c, key, "get_playbook", {{"playbook_id", pb}, {"task", "retry the HTTP request"}});
  ASSERT_EQ(context["isError"], false) << context.dump();
  EXPECT_EQ(context["structuredContent"]["bullet_ids"], json::array({"sai-00001", "err-00003"}));
  EXPECT_EQ(context["content"][0]["type"], "text");
  EXPECT_EQ(context["content"][0]["text"], context["structuredContent"]["content"]);

  auto whole = call(c, key, "get_playbook", {{"playbook_id", pb}});
  EXPECT_EQ(whole["structuredContent"]["version"], 1);
  EXPECT_NE(whole["structuredContent"]["content"].get<std::string>().find("[sai-00002]"),
            std::string::npos);
  auto section = call(c, key, "get_playbook", {{"playbook_id", pb}, {"section", "common mistakes"}});
  EXPECT_EQ(section["structuredContent"]["content"],
            "## COMMON MISTAKES\n"
            "[err-00003] helpful=0 harmful=0 :: Never retry a POST without an idempotency key.\n");

  // The same idempotency key records the outcome once.
  json outcome = {{"playbook_id", pb},
                  {"task_description", "retry the upload"},
                  {"outcome", "success"},
                  {"bullet_ids", {"sai-00001"}},
                  {"idempotency_key", "run-42"}};
  auto first = call(c, key, "report_outcome", outcome);
  ASSERT_EQ(first["isError"], false) << first.dump();
  auto again = call(c, key, "record_outcome", outcome);
  ASSERT_EQ(again["isError"], false) << again.dump();
  EXPECT_EQ(again["structuredContent"]["outcome_id"], first["structuredContent"]["outcome_id"]);
  EXPECT_EQ(c.send("GET", "/v1/playbooks/" + pb + "/outcomes", "", u.auth()).doc()["items"].size(), 1u);

  auto triggered = call(c, key, "trigger_evolution", {{"playbook_id", pb}});
  ASSERT_EQ(triggered["isError"], false) << triggered.dump();
  auto job = triggered["structuredContent"]["job_id"].get<std::string>();
  json status;
  ASSERT_TRUE(eventually([&] {
    status = call(c, key, "get_evolution_status", {{"job_id", job}});
    return status["structuredContent"].value("status", "") == "completed";
  })) << status.dump();
  auto evolved = call(c, key, "get_playbook", {{"playbook_id", pb}});
  EXPECT_EQ(evolved["structuredContent"]["version"], 2) << evolved.dump();
  auto older = call(c, key, "get_playbook", {{"playbook_id", pb}, {"version", 1}});
  EXPECT_EQ(older["structuredContent"]["version"], 1);

  auto written = call(c, key, "create_version",
                      {{"playbook_id", pb}, {"content", "## S\n[s-00009] helpful=0 harmful=0 :: x\n"}});
  ASSERT_EQ(written["isError"], false) << written.dump();
  EXPECT_EQ(written["structuredContent"]["number"], 3);
  auto listed = call(c, key, "list_playbooks", json::object());
  EXPECT_EQ(listed["structuredContent"]["items"][0]["id"], pb);
}

TEST_F(Mcp, ToolErrorsAreResultsAndChangeNothing) {
  auto u = make_user(address());
  auto reader = make_key(address(), u, json::array({"playbooks:read"}));
  auto writer = all_scopes_key(address(), u);
  http_client c{address()};
  auto pb = make_playbook(c, u, 50, ace);
  // A tool the credential's scopes do not cover: refused before anything runs.
  auto denied = call(c, reader, "report_outcome",
                     {{"playbook_id", pb}, {"task_description", "t"}, {"outcome", "success"}});
  EXPECT_EQ(denied["isError"], true);
  EXPECT_NE(denied["content"][0]["text"].get<std::string>().find("outcomes:write"), std::string::npos);
  // The REST handler's refusals, with their messages.
  auto bad = call(c, writer, "report_outcome",
                  {{"playbook_id", pb}, {"task_description", "t"}, {"outcome", "great"}});
  EXPECT_EQ(bad["isError"], true);
  EXPECT_NE(bad["content"][0]["text"].get<std::string>().find("invalid_argument"), std::string::npos)
      << bad.dump();
  auto missing = call(c, writer, "get_playbook",
                      {{"playbook_id", "00000000-0000-4000-8000-000000000000"}});
  EXPECT_EQ(missing["isError"], true);
  EXPECT_NE(missing["content"][0]["text"].get<std::string>().find("not_found"), std::string::npos);
  auto stranger = all_scopes_key(address(), make_user(address()));
  EXPECT_EQ(call(c, stranger, "get_playbook", {{"playbook_id", pb}})["isError"], true);
  EXPECT_EQ(call(c, writer, "get_playbook", {{"playbook_id", pb}, {"colour", "red"}})["isError"], true);
  EXPECT_EQ(call(c, writer, "get_playbook", {{"playbook_id", 12}})["isError"], true);
  EXPECT_EQ(call(c, writer, "get_playbook", {{"playbook_id", pb}, {"section", "NOPE"}})["isError"], true);
  // A job that is not an evolution is not an evolution's status.
  auto noop = enqueue_noop(shared_database().conninfo(), u.id, json::object());
  EXPECT_EQ(call(c, writer, "get_evolution_status", {{"job_id", noop}})["isError"], true);
  EXPECT_EQ(c.send("GET", "/v1/playbooks/" + pb + "/outcomes", "", u.auth()).doc()["items"].size(), 0u);
}

TEST_F(Mcp, MalformedMessagesGetJsonRpcErrors) {
  auto u = make_user(address());
  auto key = all_scopes_key(address(), u);
  http_client c{address()};
  auto raw = [&](const std::string& body) { return c.send("POST", "/mcp", body, with_key(key)); };
  auto r = raw("{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(code_of(r), -32700);
  EXPECT_EQ(r.doc()["id"], nullptr);
  r = raw(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(code_of(r), -32600);
  EXPECT_EQ(code_of(raw(R"({"id":1,"method":"ping"})")), -32600);
  EXPECT_EQ(code_of(raw(R"({"jsonrpc":"1.0","id":1,"method":"ping"})")), -32600);
  EXPECT_EQ(code_of(raw(R"({"jsonrpc":"2.0","id":1})")), -32600);
  EXPECT_EQ(code_of(raw(R"({"jsonrpc":"2.0","id":{"a":1},"method":"ping"})")), -32600);
  EXPECT_EQ(code_of(raw(R"({"jsonrpc":"2.0","id":1,"method":42})")), -32600);
  EXPECT_EQ(code_of(raw("\"ping\"")), -32600);
  r = raw(R"({"jsonrpc":"2.0","id":3,"method":"resources/list"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(code_of(r), -32601);
  EXPECT_EQ(r.doc()["id"], 3);
  EXPECT_EQ(code_of(raw(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]})")), -32602);
  EXPECT_EQ(code_of(raw(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}})")), -32602);
  EXPECT_EQ(code_of(raw(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rm_rf"}})")),
            -32602);
  EXPECT_EQ(code_of(raw(R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)"
                        R"("params":{"name":"get_playbook","arguments":"x"}})")),
            -32602);
  EXPECT_EQ(code_of(raw(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})")), -32602);
  // A response from the client to nothing troupe asked is accepted and dropped.
  EXPECT_EQ(raw(R"({"jsonrpc":"2.0","id":9,"result":{}})").status, 202);
  // A revision the header names that troupe does not speak.
  r = rpc(c, key, {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}},
          {{"MCP-Protocol-Version", "2024-01-01"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(code_of(r), -32600);
}

TEST_F(Mcp, TheTransportRefusesWhatIsNotAStatelessPostFromAnAllowedOrigin) {
  auto u = make_user(address());
  auto key = all_scopes_key(address(), u);
  http_client c{address()};
  json ping = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}};
  for (const auto* method : {"GET", "DELETE"}) {
    auto r = c.send(method, "/mcp", "", with_key(key));
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.header("allow"), "POST");
  }
  EXPECT_EQ(c.send("POST", "/mcp", ping.dump()).status, 401);
  EXPECT_EQ(c.send("POST", "/mcp", ping.dump(), {{"Authorization", "Bearer tr_nope"}}).status, 401);
  // A web page elsewhere cannot call tools; the server's own origin and a
  // listed one can.
  auto pb = make_playbook(c, u, 50, ace);
  json report = {{"jsonrpc", "2.0"},
                 {"id", 1},
                 {"method", "tools/call"},
                 {"params",
                  {{"name", "report_outcome"},
                   {"arguments", {{"playbook_id", pb}, {"task_description", "t"}, {"outcome", "success"}}}}}};
  auto evil = rpc(c, key, report, {{"Origin", "https://evil.example"}});
  EXPECT_EQ(evil.status, 403);
  EXPECT_EQ(evil.doc()["error"]["code"], "permission_denied");
  EXPECT_EQ(c.send("GET", "/v1/playbooks/" + pb + "/outcomes", "", u.auth()).doc()["items"].size(), 0u);
  EXPECT_EQ(rpc(c, key, ping, {{"Origin", "https://agents.example"}}).status, 200);
  EXPECT_EQ(rpc(c, key, ping, {{"Origin", "HTTPS://Agents.Example"}}).status, 200);
  EXPECT_EQ(rpc(c, key, ping, {{"Origin", "http://" + address()}, {"Host", address()}}).status, 200);
  EXPECT_EQ(rpc(c, key, ping, {{"Origin", "http://localhost:5173"}, {"Host", "localhost:1"}}).status, 200);
  EXPECT_EQ(rpc(c, key, ping, {{"Origin", "http://[::1]:5173"}, {"Host", "[::1]:1"}}).status, 200);
  EXPECT_EQ(rpc(c, key, ping, {{"Origin", "http://" + address()}, {"Host", "elsewhere:1"}}).status, 403);
  EXPECT_EQ(rpc(c, key, ping, {{"Origin", "http://localhost.evil.example"}, {"Host", "localhost"}}).status,
            403);
  // DNS rebinding: the page's name now resolves here, so Host and Origin agree.
  EXPECT_EQ(rpc(c, key, ping, {{"Origin", "http://evil.example:8080"}, {"Host", "evil.example:8080"}}).status,
            403);
  EXPECT_EQ(rpc(c, key, ping, {{"Origin", "null"}}).status, 403);
  // A body over server.max_body_bytes is refused before it is read.
  std::string huge(2 << 20, 'x');
  auto big = c.send("POST", "/mcp", R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":")" + huge + "\"}}",
                    with_key(key));
  EXPECT_EQ(big.status, 413);
}

// The stateless revision: no handshake, the revision and the client's
// capabilities in every request's _meta, repeated in headers.
json stateless_meta(const std::string& version = "2026-07-28") {
  return {{"io.modelcontextprotocol/protocolVersion", version},
          {"io.modelcontextprotocol/clientCapabilities", json::object()},
          {"io.modelcontextprotocol/clientInfo", {{"name", "t"}, {"version", "1"}}}};
}

headers stateless_headers(const std::string& method, const std::string& name = "") {
  headers h{{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", method}};
  if (!name.empty())
    h["Mcp-Name"] = name;
  return h;
}

TEST_F(Mcp, TheStatelessRevisionAnswersWithoutAHandshake) {
  auto u = make_user(address());
  auto key = all_scopes_key(address(), u);
  http_client c{address()};
  auto discover = rpc(c, key,
                      {{"jsonrpc", "2.0"}, {"id", "d"}, {"method", "server/discover"},
                       {"params", {{"_meta", stateless_meta()}}}},
                      stateless_headers("server/discover"));
  ASSERT_EQ(discover.status, 200) << discover.body;
  auto d = discover.doc()["result"];
  EXPECT_EQ(d["resultType"], "complete");
  EXPECT_EQ(d["supportedVersions"][0], "2026-07-28");
  EXPECT_TRUE(d["capabilities"].contains("tools"));
  EXPECT_EQ(d["cacheScope"], "public");
  EXPECT_GT(d["ttlMs"].get<int>(), 0);
  EXPECT_EQ(d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "troupe");

  auto list = rpc(c, key,
                  {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/list"},
                   {"params", {{"_meta", stateless_meta()}}}},
                  stateless_headers("tools/list"));
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.doc()["result"]["resultType"], "complete");
  EXPECT_EQ(list.doc()["result"]["tools"].size(), 10u);
  EXPECT_TRUE(list.doc()["result"].contains("ttlMs"));

  auto pb = make_playbook(c, u, 50, ace);
  json call = {{"jsonrpc", "2.0"},
               {"id", 2},
               {"method", "tools/call"},
               {"params",
                {{"name", "get_playbook"},
                 {"arguments", {{"playbook_id", pb}, {"task", "retry"}}},
                 {"_meta", stateless_meta()}}}};
  auto got = rpc(c, key, call, stateless_headers("tools/call", "get_playbook"));
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.doc()["result"]["resultType"], "complete");
  EXPECT_EQ(got.doc()["result"]["structuredContent"]["bullet_ids"][0], "sai-00001");
  // Mcp-Name may come base64-encoded.
  EXPECT_EQ(rpc(c, key, call, stateless_headers("tools/call", "=?base64?Z2V0X3BsYXlib29r?=")).status, 200);

  // The headers must repeat the body: -32020, 400.
  for (auto& h : {stateless_headers("tools/call", "create_playbook"),
                  stateless_headers("tools/list", "get_playbook"), stateless_headers("tools/call"),
                  headers{{"Mcp-Method", "tools/call"}, {"Mcp-Name", "get_playbook"}}}) {
    auto r = rpc(c, key, call, h);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(code_of(r), -32020) << r.body;
  }
  // A revision troupe does not speak: -32022 with what it does.
  auto old = rpc(c, key,
                 {{"jsonrpc", "2.0"}, {"id", 3}, {"method", "tools/list"},
                  {"params", {{"_meta", stateless_meta("2030-01-01")}}}},
                 stateless_headers("tools/list"));
  EXPECT_EQ(old.status, 400);
  EXPECT_EQ(code_of(old), -32022);
  EXPECT_EQ(old.doc()["error"]["data"]["requested"], "2030-01-01");
  EXPECT_EQ(old.doc()["error"]["data"]["supported"][0], "2026-07-28");
  // Client capabilities are required.
  json no_caps = stateless_meta();
  no_caps.erase("io.modelcontextprotocol/clientCapabilities");
  auto bare = rpc(c, key,
                  {{"jsonrpc", "2.0"}, {"id", 4}, {"method", "tools/list"}, {"params", {{"_meta", no_caps}}}},
                  stateless_headers("tools/list"));
  EXPECT_EQ(bare.status, 400);
  EXPECT_EQ(code_of(bare), -32602);
  // The revision has no handshake and no ping: 404, -32601.
  for (const auto* method : {"initialize", "ping"}) {
    auto r = rpc(c, key,
                 {{"jsonrpc", "2.0"}, {"id", 5}, {"method", method},
                  {"params", {{"_meta", stateless_meta()}, {"protocolVersion", "2026-07-28"}}}},
                 stateless_headers(method));
    EXPECT_EQ(r.status, 404) << method;
    EXPECT_EQ(code_of(r), -32601) << method;
  }
  // An initialize without _meta asking for it is the handshake, answered
  // with the newest handshake revision.
  auto legacy = rpc(c, key,
                    {{"jsonrpc", "2.0"}, {"id", 6}, {"method", "initialize"},
                     {"params", {{"protocolVersion", "2026-07-28"}, {"capabilities", json::object()},
                                 {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}});
  EXPECT_EQ(legacy.doc()["result"]["protocolVersion"], "2025-11-25");
}

// ---- real clients ---------------------------------------------------------

struct node_run {
  int exit_code = -1;
  std::string output;
};

// Runs `node args…` in tests/mcp with `env` added, its stdout and stderr
// together; killed if it outlives five minutes (a hung client fails the test).
node_run run_node(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  temp_dir io;
  auto out_path = io.path() + "/out";
  auto dir = std::string{TROUPE_SOURCE_DIR} + "/tests/mcp";
  pid_t pid = fork();
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(out, 2);
    if (chdir(dir.c_str()) != 0)
      _exit(126);
    for (auto& [k, v] : env)
      setenv(k.c_str(), v.c_str(), 1);
    std::vector<std::string> all{"node"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp("node", argv.data());
    _exit(127);
  }
  int status = 0;
  bool ended = eventually([&] { return waitpid(pid, &status, WNOHANG) == pid; }, std::chrono::minutes{5});
  if (!ended) {
    ::kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  std::ifstream in{out_path};
  std::stringstream text;
  text << in.rdbuf();
  return {ended && WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

bool npm_packages_installed() {
  return std::filesystem::exists(std::string{TROUPE_SOURCE_DIR} +
                                 "/tests/mcp/node_modules/@modelcontextprotocol/sdk/package.json");
}

// tests/mcp/sdk.test.mjs: the official TypeScript SDK's client against this node.
TEST_F(Mcp, TheOfficialSdkClientUsesEveryTool) {
  ASSERT_TRUE(npm_packages_installed()) << "tests/mcp's npm packages are missing: ./scripts/test installs them";
  auto u = make_user(address());
  // A project whose map get_system_map returns: a repository of one commit.
  auto repo = repository_root().path() + "/sdk";
  std::filesystem::create_directories(repo + "/lib");
  std::ofstream{repo + "/main.py"} << "import lib.util\n\nif __name__ == \"__main__\":\n    pass\n";
  std::ofstream{repo + "/lib/util.py"} << "def f():\n    return 1\n";
  ASSERT_EQ(std::system(("cd '" + repo + "' && git init -q && git add -A && GIT_AUTHOR_NAME=a "
                         "GIT_AUTHOR_EMAIL=a@example.com GIT_COMMITTER_NAME=a "
                         "GIT_COMMITTER_EMAIL=a@example.com git commit -qm one")
                            .c_str()),
            0);
  http_client c{address()};
  auto project = c.send("POST", "/v1/projects",
                        json{{"name", "sdk"}, {"repository_url", repo}}.dump(), u.auth());
  ASSERT_EQ(project.status, 201) << project.body;
  std::string project_id = project.doc()["id"];
  ASSERT_TRUE(eventually([&] {
    return c.send("GET", "/v1/projects/" + project_id, "", u.auth()).doc()["status"] == "ready";
  }));
  auto run = run_node({"--test", "sdk.test.mjs"},
                      {{"TROUPE_MCP_URL", "http://" + address() + "/mcp"},
                       {"TROUPE_MCP_KEY", all_scopes_key(address(), u)},
                       {"TROUPE_MCP_READ_KEY", make_key(address(), u, json::array({"playbooks:read"}))},
                       {"TROUPE_MCP_PROJECT", project_id}});
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

// tests/mcp/conformance.mjs: the MCP conformance suite's server scenarios,
// failing on any failure not in tests/mcp/conformance-baseline.yml and on
// any baseline entry that now passes.
TEST_F(Mcp, TheConformanceSuitePassesBeyondItsBaseline) {
  ASSERT_TRUE(npm_packages_installed()) << "tests/mcp's npm packages are missing: ./scripts/test installs them";
  auto u = make_user(address());
  auto run = run_node({"conformance.mjs"}, {{"TROUPE_MCP_URL", "http://" + address() + "/mcp"},
                                            {"TROUPE_MCP_KEY", all_scopes_key(address(), u)}});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  for (const auto* scenario : {"server-initialize", "ping", "tools-list", "dns-rebinding-protection"})
    EXPECT_NE(run.output.find(std::string{"✓ "} + scenario + ":"), std::string::npos) << scenario;
}

} // namespace
