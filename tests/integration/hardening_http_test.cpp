// What an attacker or a careless client found, each as the client sees it
// over loopback: request smuggling through Transfer-Encoding, connection
// floods, U+0000 in stored text, key management without the scope,
// characters counted as bytes, plans with dependency cycles, and the HTTP
// points of RFC 9110/9112 (leading empty lines, HEAD, Expect:
// 100-continue). hardening_test.cpp has the stream and sign-in cases;
// docs/security.md lists the limits.
#include "tests/integration/harness.hpp"
#include "tests/integration/stream_clients.hpp"

#include "runtime/crypto.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sstream>
#include <thread>

using namespace troupe;
using namespace troupe::test;

namespace {

// ---- HTTP framing ---------------------------------------------------------------------

class Framing : public node_suite<Framing> {};

// RFC 9112 §6.3: a Transfer-Encoding whose final coding is not chunked
// cannot delimit a request body. The body must never run as a request.
TEST_F(Framing, ATransferEncodingOtherThanChunkedIsRefusedAndTheConnectionClosed) {
  auto u = make_user(address());
  auto before = table_counts(shared_database().conninfo());
  const std::string smuggled = request("GET", "/healthz");
  for (std::string coding : {"gzip", "identity", "xchunked", "chunked, gzip", "gzip, chunked",
                             "chunked,", "chunked\r\nTransfer-Encoding: chunked"}) {
    raw_connection c{address()};
    std::string body = "5\r\nhello\r\n0\r\n\r\n";
    c.send("POST /v1/playbooks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" +
           bearer_header(u) + "Transfer-Encoding: " + coding + "\r\n\r\n" + body + smuggled);
    auto all = c.read_until_closed();
    ASSERT_TRUE(all) << coding << ": the connection stayed open";
    EXPECT_EQ(all->rfind("HTTP/1.1 400", 0), 0u) << coding << ": " << *all;
    EXPECT_EQ(all->find("HTTP/1.1", 1), std::string::npos) << coding << ": a second response";
  }
  raw_connection both{address()};
  both.send("POST /v1/playbooks HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            "Content-Length: 5\r\n\r\nhello" + smuggled);
  auto all = both.read_until_closed();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->rfind("HTTP/1.1 400", 0), 0u) << *all;
  EXPECT_EQ(all->find("HTTP/1.1", 1), std::string::npos);
  raw_connection old{address()};
  old.send("POST /v1/playbooks HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           "0\r\n\r\n");
  auto refused = old.read_until_closed();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->rfind("HTTP/1.1 400", 0), 0u) << *refused;
  EXPECT_EQ(table_counts(shared_database().conninfo()), before);
  // Plain chunked still works.
  raw_connection ok{address()};
  std::string json_body = R"({"name":"chunked"})";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", json_body.size());
  ok.send("POST /v1/playbooks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" +
          bearer_header(u) + "Transfer-Encoding: chunked\r\n\r\n" + size + "\r\n" + json_body +
          "\r\n0\r\n\r\n");
  auto created = ok.read_response();
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << created->body;
}

TEST_F(Framing, EmptyLinesBeforeARequestLineAreIgnored) {
  raw_connection c{address()};
  c.send("\r\n" + request("GET", "/healthz"));
  auto first = c.read_response();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  // And between pipelined requests, in pieces.
  c.send("\r\n\r\n");
  c.send(request("GET", "/healthz") + "\n" + request("GET", "/readyz"));
  for (int i = 0; i < 2; ++i) {
    auto r = c.read_response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
  }
}

// Only lines before a request line are skipped: a bad line inside a head
// must not let the rest of the bytes run as a request of their own.
TEST_F(Framing, ABadLineInsideAHeadIsNeverSkippedIntoANewRequest) {
  for (std::string bad : {"\n", "\rX\r\n"}) {
    raw_connection c{address()};
    c.send("POST /v1/playbooks HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n" + bad +
           request("GET", "/healthz"));
    auto all = c.read_until_closed();
    ASSERT_TRUE(all);
    EXPECT_EQ(all->rfind("HTTP/1.1 400", 0), 0u) << *all;
    EXPECT_EQ(all->find("HTTP/1.1", 1), std::string::npos) << "a smuggled request ran: " << *all;
  }
}

// A refusal after a HEAD on the same connection is a whole response.
TEST_F(Framing, ARefusalAfterAHeadCarriesItsBody) {
  raw_connection c{address()};
  c.send(request("HEAD", "/healthz") +
         "POST /v1/playbooks HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n");
  auto head = c.read_response(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  auto refused = c.read_response();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  EXPECT_NE(refused->body.find("Transfer-Encoding"), std::string::npos) << refused->body;
}

TEST_F(Framing, HeadIsAnsweredLikeGetWithoutContent) {
  auto u = make_user(address());
  create_playbook(address(), u);
  http_client get{address()};
  auto full = get.send("GET", "/v1/playbooks", "", u.auth());
  raw_connection c{address()};
  c.send(request("HEAD", "/v1/playbooks", bearer_header(u)) + request("HEAD", "/healthz"));
  auto head = c.read_response(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["content-length"], std::to_string(full.body.size()));
  EXPECT_EQ(head->headers["content-type"], "application/json; charset=utf-8");
  auto health = c.read_response(true);
  ASSERT_TRUE(health) << "the first HEAD sent content: " << c.pending();
  EXPECT_EQ(health->status, 200);
  EXPECT_TRUE(c.pending().empty());
  // An event stream's HEAD is its head, with no stream behind it: no
  // length, and the connection ends as the stream's would.
  raw_connection s{address()};
  s.send(request("HEAD", "/v1/events", bearer_header(u)));
  auto events = s.read_response(true);
  ASSERT_TRUE(events);
  EXPECT_EQ(events->status, 200);
  EXPECT_EQ(events->headers["content-type"], "text/event-stream");
  EXPECT_EQ(events->headers.count("content-length"), 0u);
  auto rest = s.read_until_closed();
  ASSERT_TRUE(rest) << "the connection stayed open";
  EXPECT_TRUE(rest->empty()) << *rest;
  http_client c2{address()};
  EXPECT_EQ(c2.send("PUT", "/healthz").header("allow"), "GET, HEAD");
}

TEST_F(Framing, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  auto u = make_user(address());
  std::string body = R"({"name":"expect"})";
  raw_connection c{address()};
  c.send("POST /v1/playbooks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" +
         bearer_header(u) + "Expect: 100-continue\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n");
  auto go_on = c.read_response();
  ASSERT_TRUE(go_on) << "no 100 Continue";
  EXPECT_EQ(go_on->status, 100);
  c.send(body);
  auto created = c.read_response();
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << created->body;
  // A body over the limit is refused on its head: no 100, 413, closed.
  raw_connection big{address()};
  big.send("POST /v1/playbooks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" +
           bearer_header(u) + "Expect: 100-continue\r\nContent-Length: 999999999\r\n\r\n");
  auto all = big.read_until_closed();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->rfind("HTTP/1.1 413", 0), 0u) << *all;
}

// ---- connection limits --------------------------------------------------------------

TEST(ConnectionLimits, ConnectionsOverTheLimitGetA503AndClose) {
  test_node n{shared_database().conninfo(),
              [](config::settings& s) { s.server.max_connections = 4; }};
  std::vector<std::unique_ptr<raw_connection>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<raw_connection>(n.address()));
    held.back()->send(request("GET", "/healthz"));
    auto r = held.back()->read_response();
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
  }
  raw_connection fifth{n.address()};
  fifth.send(request("GET", "/healthz"));
  auto all = fifth.read_until_closed();
  ASSERT_TRUE(all) << "the refused connection was not closed";
  EXPECT_EQ(all->rfind("HTTP/1.1 503", 0), 0u) << *all;
  EXPECT_NE(all->find("Retry-After: 1"), std::string::npos);
  EXPECT_NE(all->find("\"unavailable\""), std::string::npos);
  held.pop_back();
  EXPECT_TRUE(eventually([&] {
    raw_connection again{n.address()};
    again.send(request("GET", "/healthz"));
    auto r = again.read_response();
    return r && r->status == 200;
  }));
}

// A process at its descriptor limit: accepting fails with EMFILE. The loop
// backs off instead of spinning, refuses waiting clients with a 503 through
// its spare descriptor, and serves again once descriptors are free.
TEST(ConnectionLimits, OutOfDescriptorsTheAcceptLoopBacksOffAndRefusesCleanly) {
  temp_dir data;
  pid_t pid = fork();
  if (pid == 0) {
    int err = open((data.path() + "/serve.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(err, 2);
    dup2(err, 1);
    rlimit few{128, 128};
    setrlimit(RLIMIT_NOFILE, &few);
    setenv("TROUPE_DATABASE_POOL_SIZE", "2", 1);
    execl(TROUPE_BINARY, TROUPE_BINARY, "serve", "--data-dir", data.path().c_str(), "--listen",
          "127.0.0.1:0", "--database-url", shared_database().conninfo().c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  auto log = [&] {
    std::ifstream in{data.path() + "/serve.err"};
    return std::string{std::istreambuf_iterator<char>{in}, {}};
  };
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(data.path() + "/listen.addr"); }))
      << log();
  std::string address;
  std::ifstream{data.path() + "/listen.addr"} >> address;
  auto cpu_ticks = [&] {
    std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
    std::string stat{std::istreambuf_iterator<char>{in}, {}};
    std::istringstream fields{stat.substr(stat.rfind(')') + 2)};
    std::string f;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i == 14)
        utime = std::stol(f);
      if (i == 15)
        stime = std::stol(f);
    }
    return utime + stime;
  };
  // Fill the descriptor table with idle keep-alive connections.
  std::vector<std::unique_ptr<raw_connection>> held;
  int refused = 0;
  while (held.size() < 200 && refused == 0) {
    auto c = std::make_unique<raw_connection>(address);
    c->send(request("GET", "/healthz"));
    auto r = c->read_response();
    ASSERT_TRUE(r) << "a client was left without an answer at " << held.size() << " connections";
    if (r->status == 503)
      ++refused;
    else
      held.push_back(std::move(c));
  }
  ASSERT_EQ(refused, 1) << "the descriptor limit was never reached";
  // Waiting clients are refused one per back-off while nothing is freed;
  // the loop meanwhile sleeps.
  auto ticks_before = cpu_ticks();
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) {
    raw_connection c{address};
    c.send(request("GET", "/healthz"));
    auto r = c.read_response(false, std::chrono::seconds{15});
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 503) << i;
    EXPECT_EQ(r->headers["retry-after"], "1");
  }
  double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  double cpu_s = static_cast<double>(cpu_ticks() - ticks_before) / sysconf(_SC_CLK_TCK);
  EXPECT_LT(cpu_s, 0.25 * wall_s + 0.05) << cpu_s << " s of CPU in " << wall_s << " s";
  EXPECT_NE(log().find("accept failed; backing off"), std::string::npos);
  // Descriptors freed: served again.
  held.clear();
  EXPECT_TRUE(eventually([&] {
    raw_connection c{address};
    c.send(request("GET", "/healthz"));
    auto r = c.read_response();
    return r && r->status == 200;
  }));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log();
}

// ---- stored text -------------------------------------------------------------------

class StoredText : public node_suite<StoredText> {};

TEST_F(StoredText, UPlus0000IsRefusedWhereverTextIsStored) {
  auto u = make_user(address());
  auto pb = create_playbook(address(), u)["id"].get<std::string>();
  auto before = table_counts(shared_database().conninfo());
  http_client c{address()};
  struct probe {
    std::string method, target, body, field;
  };
  const std::string nul = "\\u0000";
  std::vector<probe> probes = {
      {"POST", "/v1/playbooks/" + pb + "/outcomes",
       R"({"task_description":"a)" + nul + R"(b","outcome":"success"})", "task_description"},
      {"POST", "/v1/playbooks/" + pb + "/outcomes",
       R"({"task_description":"t","outcome":"success","metadata":{"k)" + nul + R"(":1}})",
       "metadata"},
      {"POST", "/v1/playbooks/" + pb + "/outcomes",
       R"({"task_description":"t","outcome":"success","metadata":{"k":["x",")" + nul + R"("]}})",
       "metadata"},
      {"POST", "/v1/playbooks", R"({"name":"a)" + nul + R"(junk"})", "name"},
      {"PATCH", "/v1/playbooks/" + pb, R"({"description":"d)" + nul + R"("})", "description"},
      {"POST", "/v1/playbooks/" + pb + "/versions",
       R"({"content":"## S\n[sai-00001] helpful=0 harmful=0 :: x)" + nul + R"(y\n"})", "content"},
      {"POST", "/v1/auth/api-keys", R"({"name":"k)" + nul + R"(x"})", "name"},
      {"POST", "/v1/auth/login",
       R"({"email":")" + u.email + nul + R"(junk","password":")" + u.password + R"("})", "email"},
  };
  for (const auto& p : probes) {
    auto r = c.send(p.method, p.target, p.body, u.auth());
    EXPECT_EQ(r.status, 400) << p.body << " → " << r.body;
    EXPECT_EQ(r.doc()["error"]["code"], "invalid_argument") << r.body;
    EXPECT_EQ(r.doc()["error"]["details"]["field"], p.field) << r.body;
    EXPECT_NE(r.body.find("U+0000"), std::string::npos) << r.body;
  }
  // Query parameters reach text columns too.
  for (std::string q : {"?cursor=%00", "?status=%00", "?cursor=%FF%FE", "?limit=1%00"}) {
    auto r = c.send("GET", "/v1/playbooks" + q, "", u.auth());
    EXPECT_EQ(r.status, 400) << q << " → " << r.body;
    auto jobs = c.send("GET", "/v1/jobs" + q, "", u.auth());
    EXPECT_EQ(jobs.status, 400) << q << " → " << jobs.body;
  }
  EXPECT_EQ(table_counts(shared_database().conninfo()), before);
}

TEST_F(StoredText, LimitsCountCharactersNotBytes) {
  auto u = make_user(address());
  http_client c{address()};
  std::string e_acute = "\xc3\xa9";
  std::string name200, name201;
  for (int i = 0; i < 200; ++i)
    name200 += e_acute;
  name201 = name200 + e_acute;
  auto ok = c.send("POST", "/v1/playbooks", json{{"name", name200}}.dump(), u.auth());
  EXPECT_EQ(ok.status, 201) << ok.body; // 400 bytes, 200 characters
  auto over = c.send("POST", "/v1/playbooks", json{{"name", name201}}.dump(), u.auth());
  EXPECT_EQ(over.status, 413) << over.body;
  EXPECT_EQ(over.doc()["error"]["details"]["field"], "name");
  EXPECT_EQ(over.doc()["error"]["message"], "name is longer than 200 characters");
  auto long_ascii = c.send("POST", "/v1/playbooks", json{{"name", std::string(800, 'a')}}.dump(),
                           u.auth());
  EXPECT_EQ(long_ascii.status, 413);
  auto description = c.send("POST", "/v1/playbooks",
                            json{{"name", "n"}, {"description", std::string(2001, 'd')}}.dump(),
                            u.auth());
  EXPECT_EQ(description.status, 413) << description.body;
  auto key_name = c.send("POST", "/v1/auth/api-keys", json{{"name", std::string(201, 'k')}}.dump(),
                         u.auth());
  EXPECT_EQ(key_name.status, 413) << key_name.body;
}

// ---- scopes of key management ---------------------------------------------------------

TEST_F(StoredText, ManagingKeysNeedsTheKeyScopes) {
  auto u = make_user(address());
  auto admin_key = make_key(address(), u, {"*"});
  auto reader = make_key(address(), u, {"playbooks:read"});
  http_client c{address()};
  auto keys = c.send("GET", "/v1/auth/api-keys", "", bearer(admin_key)).doc()["items"];
  std::string admin_id;
  for (const auto& k : keys)
    if (admin_key.rfind(k["prefix"].get<std::string>(), 0) == 0)
      admin_id = k["id"];
  ASSERT_FALSE(admin_id.empty());
  auto list = c.send("GET", "/v1/auth/api-keys", "", bearer(reader));
  EXPECT_EQ(list.status, 403) << list.body;
  EXPECT_EQ(list.doc()["error"]["message"], "this credential lacks the scope keys:read");
  auto revoke = c.send("DELETE", "/v1/auth/api-keys/" + admin_id, "", bearer(reader));
  EXPECT_EQ(revoke.status, 403);
  auto mint = c.send("POST", "/v1/auth/api-keys", json{{"name", "x"}}.dump(), bearer(reader));
  EXPECT_EQ(mint.status, 403);
  EXPECT_EQ(c.send("GET", "/v1/auth/me", "", bearer(admin_key)).status, 200) << "still valid";
  // The key scopes, and their group, do it.
  auto keeper = make_key(address(), u, {"keys:*"});
  EXPECT_EQ(c.send("GET", "/v1/auth/api-keys", "", bearer(keeper)).status, 200);
  auto lister = make_key(address(), u, {"keys:read"});
  EXPECT_EQ(c.send("GET", "/v1/auth/api-keys", "", bearer(lister)).status, 200);
  EXPECT_EQ(c.send("DELETE", "/v1/auth/api-keys/" + admin_id, "", bearer(lister)).status, 403);
  EXPECT_EQ(c.send("DELETE", "/v1/auth/api-keys/" + admin_id, "", bearer(keeper)).status, 204);
  // /v1/auth/me needs no scope.
  EXPECT_EQ(c.send("GET", "/v1/auth/me", "", bearer(reader)).status, 200);
}

// ---- critiques and versions ------------------------------------------------------------

TEST_F(StoredText, PlansWithDependencyCyclesAreRefusedNamingTheCycle) {
  auto u = make_user(address());
  http_client c{address()};
  auto before = table_counts(shared_database().conninfo());
  auto cycle = c.send("POST", "/v1/critiques",
                      json{{"goal", "ship"},
                           {"plan",
                            {{{"id", "s1"}, {"text", "build"}, {"depends_on", {"s3"}}},
                             {{"id", "s2"}, {"text", "test"}, {"depends_on", {"s1"}}},
                             {{"id", "s3"}, {"text", "deploy"}, {"depends_on", {"s2"}}}}}}
                          .dump(),
                      u.auth());
  EXPECT_EQ(cycle.status, 400) << cycle.body;
  EXPECT_EQ(cycle.doc()["error"]["details"]["field"], "plan");
  EXPECT_EQ(cycle.doc()["error"]["message"],
            "the steps' depends_on form a cycle: 's1' -> 's3' -> 's2' -> 's1'");
  auto self_loop = c.send(
      "POST", "/v1/critiques",
      json{{"goal", "ship"}, {"plan", {{{"id", "a"}, {"text", "x"}, {"depends_on", {"a"}}}}}}.dump(),
      u.auth());
  EXPECT_EQ(self_loop.status, 400);
  EXPECT_EQ(self_loop.doc()["error"]["message"],
            "the steps' depends_on form a cycle: 'a' -> 'a'");
  EXPECT_EQ(table_counts(shared_database().conninfo()), before);
}

TEST_F(StoredText, ManualVersionsAndRollbacksAnnounceTheNewVersion) {
  auto u = make_user(address());
  auto pb = create_playbook(address(), u)["id"].get<std::string>();
  sse_client events{address(), u.access_token,
                    "?topics=playbook.version_created&playbook_id=" + pb};
  http_client c{address()};
  auto v1 = c.send("POST", "/v1/playbooks/" + pb + "/versions",
                   json{{"content", "## S\n[sai-00001] helpful=0 harmful=0 :: one\n"}}.dump(),
                   u.auth());
  ASSERT_EQ(v1.status, 201) << v1.body;
  auto v2 = c.send("POST", "/v1/playbooks/" + pb + "/rollback", json{{"version_number", 1}}.dump(),
                   u.auth());
  ASSERT_EQ(v2.status, 201) << v2.body;
  auto got = events.take(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].topic, "playbook.version_created");
  EXPECT_EQ(got[0].data["version"], 1);
  EXPECT_EQ(got[0].data["diff_summary"], "manual version");
  EXPECT_TRUE(got[0].data["job_id"].is_null());
  EXPECT_EQ(got[1].data["version"], 2);
  EXPECT_EQ(got[1].data["diff_summary"], "rollback to version 1");
}

} // namespace
