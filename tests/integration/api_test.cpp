// Every route of the foundation through a real gateway on a loopback port,
// backed by a real (throwaway) Postgres: happy paths, tenancy, each auth
// failure, and bad input that must be refused without changing anything.
#include "auth/credentials.hpp"
#include "runtime/crypto.hpp"
#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace troupe::test;

namespace {

const std::string ace_content =
    "## STRATEGIES & INSIGHTS\n"
    "[sai-00001] helpful=3 harmful=0 :: Check the API's pagination before concluding.\n"
    "## COMMON MISTAKES TO AVOID\n"
    "[err-00002] helpful=0 harmful=2 :: Do not assume dates are in local time.\n";

class Api : public ::testing::Test {
protected:
  static void SetUpTestSuite() { node_ = new test_node(shared_database().conninfo()); }
  static void TearDownTestSuite() {
    delete node_;
    node_ = nullptr;
  }

  const std::string& address() { return node_->address(); }
  std::string conninfo() { return shared_database().conninfo(); }

  json create_playbook(const user& u, const json& body) {
    http_client c{address()};
    auto r = c.send("POST", "/v1/playbooks", body.dump(), u.auth());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.doc();
  }

  std::string make_key(const user& u, const json& body) {
    http_client c{address()};
    auto r = c.send("POST", "/v1/auth/api-keys", body.dump(), u.auth());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.doc().value("key", "");
  }

  // Asserts the documented error shape and status, and returns the error.
  static json expect_error(const response& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    auto doc = r.doc();
    EXPECT_TRUE(doc.is_object() && doc.contains("error")) << r.body;
    if (!doc.is_object() || !doc.contains("error"))
      return json::object();
    EXPECT_EQ(doc["error"]["code"], code) << r.body;
    EXPECT_TRUE(doc["error"]["message"].is_string());
    EXPECT_FALSE(doc["error"]["request_id"].get<std::string>().empty());
    EXPECT_EQ(doc["error"]["request_id"], r.header("x-request-id"));
    return doc["error"];
  }

  static test_node* node_;
};

test_node* Api::node_ = nullptr;

// ---- operations endpoints ----------------------------------------------------

TEST_F(Api, HealthReadinessStatusAndOpenApi) {
  http_client c{address()};
  EXPECT_EQ(c.send("GET", "/healthz").status, 200);
  EXPECT_EQ(c.send("GET", "/readyz").status, 200);
  auto status = c.send("GET", "/v1/status");
  ASSERT_EQ(status.status, 200);
  auto s = status.doc();
  EXPECT_EQ(s["node_id"], node_->node->node_id());
  EXPECT_TRUE(s["database"]["ok"].get<bool>());
  EXPECT_TRUE(s["uptime_s"].is_number());
  EXPECT_EQ(s["jobs"]["queued"], 0);
  ASSERT_TRUE(s["nodes"].is_array());
  EXPECT_FALSE(s["nodes"].empty());
  auto api = c.send("GET", "/openapi.json");
  ASSERT_EQ(api.status, 200);
  EXPECT_EQ(api.doc()["openapi"], "3.1.0");
  EXPECT_TRUE(api.doc()["paths"].contains("/v1/playbooks/{id}/versions/{n}/diff"));
}

TEST_F(Api, UnknownRouteAndWrongMethod) {
  http_client c{address()};
  expect_error(c.send("GET", "/v1/nowhere"), 404, "not_found");
  auto r = c.send("PUT", "/v1/playbooks");
  expect_error(r, 405, "method_not_allowed");
  EXPECT_EQ(r.header("allow"), "GET, HEAD, POST");
}

TEST_F(Api, RequestIdIsEchoedOrGenerated) {
  http_client c{address()};
  auto mine = c.send("GET", "/healthz", "", {{"X-Request-Id", "client-id.42"}});
  EXPECT_EQ(mine.header("x-request-id"), "client-id.42");
  auto bad = c.send("GET", "/healthz", "", {{"X-Request-Id", "has spaces and {braces}"}});
  EXPECT_FALSE(bad.header("x-request-id").empty());
  EXPECT_NE(bad.header("x-request-id"), "has spaces and {braces}");
}

TEST_F(Api, KeepAliveServesManyRequestsOnOneConnection) {
  http_client c{address()};
  for (int i = 0; i < 20; ++i) {
    auto r = c.send("GET", "/healthz");
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.header("connection"), "close");
  }
}

// ---- authentication ------------------------------------------------------------

TEST_F(Api, RegisterLoginMe) {
  auto u = make_user(address());
  http_client c{address()};
  auto me = c.send("GET", "/v1/auth/me", "", u.auth());
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(me.doc()["email"], u.email);
  EXPECT_EQ(me.doc()["id"], u.id);
  EXPECT_TRUE(me.doc()["created_at"].is_string());
}

TEST_F(Api, RegistrationRules) {
  auto u = make_user(address());
  http_client c{address()};
  std::string upper = u.email;
  for (auto& ch : upper)
    ch = static_cast<char>(std::toupper(ch));
  expect_error(c.send("POST", "/v1/auth/register",
                      json{{"email", upper}, {"password", "long enough"}}.dump()),
               409, "conflict");
  auto e = expect_error(c.send("POST", "/v1/auth/register",
                               json{{"email", "x@example.com"}, {"password", "short"}}.dump()),
                        400, "invalid_argument");
  EXPECT_EQ(e["details"]["field"], "password");
  e = expect_error(c.send("POST", "/v1/auth/register",
                          json{{"email", "not-an-email"}, {"password", "long enough"}}.dump()),
                   400, "invalid_argument");
  EXPECT_EQ(e["details"]["field"], "email");
}

TEST_F(Api, LoginFailuresLookTheSame) {
  auto u = make_user(address());
  http_client c{address()};
  auto wrong = expect_error(
      c.send("POST", "/v1/auth/login", json{{"email", u.email}, {"password", "wrong pass"}}.dump()),
      401, "unauthenticated");
  auto unknown = expect_error(c.send("POST", "/v1/auth/login",
                                     json{{"email", "nobody@example.com"},
                                          {"password", "wrong pass"}}
                                         .dump()),
                              401, "unauthenticated");
  EXPECT_EQ(wrong["message"], unknown["message"]);
}

TEST_F(Api, RefreshRotatesTheToken) {
  auto u = make_user(address());
  http_client c{address()};
  auto r = c.send("POST", "/v1/auth/refresh", json{{"refresh_token", u.refresh_token}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto fresh = r.doc();
  EXPECT_EQ(fresh["token_type"], "bearer");
  EXPECT_EQ(fresh["expires_in"], 1800);
  EXPECT_NE(fresh["refresh_token"], u.refresh_token);
  EXPECT_EQ(c.send("GET", "/v1/auth/me", "", bearer(fresh["access_token"])).status, 200);
  // The old refresh token stops working; reusing it also ends the new session.
  expect_error(c.send("POST", "/v1/auth/refresh", json{{"refresh_token", u.refresh_token}}.dump()),
               401, "unauthenticated");
  expect_error(c.send("POST", "/v1/auth/refresh",
                      json{{"refresh_token", fresh["refresh_token"]}}.dump()),
               401, "unauthenticated");
  expect_error(c.send("POST", "/v1/auth/refresh", json{{"refresh_token", "garbage"}}.dump()), 401,
               "unauthenticated");
}

TEST_F(Api, ApiKeysAreShownOnceListedByPrefixAndRevocable) {
  auto u = make_user(address());
  http_client c{address()};
  auto created = c.send("POST", "/v1/auth/api-keys", json{{"name", "ci"}}.dump(), u.auth());
  ASSERT_EQ(created.status, 201) << created.body;
  auto k = created.doc();
  std::string key = k["key"];
  EXPECT_EQ(k["scopes"], json::array({"*"}));
  EXPECT_EQ(key.rfind(k["prefix"].get<std::string>(), 0), 0u);

  auto list = c.send("GET", "/v1/auth/api-keys", "", u.auth());
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.doc()["items"].size(), 1u);
  auto item = list.doc()["items"][0];
  EXPECT_EQ(item["prefix"], k["prefix"]);
  EXPECT_FALSE(item.contains("key"));
  EXPECT_EQ(list.body.find(key), std::string::npos);

  // Both header forms authenticate.
  EXPECT_EQ(c.send("GET", "/v1/auth/me", "", bearer(key)).status, 200);
  EXPECT_EQ(c.send("GET", "/v1/auth/me", "", {{"X-API-Key", key}}).status, 200);
  auto used = c.send("GET", "/v1/auth/api-keys", "", u.auth()).doc()["items"][0];
  EXPECT_TRUE(used["last_used_at"].is_string());

  // The secret is stored only as a hash.
  {
    pqxx::connection conn{conninfo()};
    pqxx::read_transaction tx{conn};
    auto rows = tx.exec_params("SELECT count(*) FROM api_keys WHERE encode(key_hash, 'escape')"
                               " LIKE '%' || $1 || '%'",
                               key.substr(16));
    EXPECT_EQ(rows[0][0].as<int>(), 0);
  }

  auto del = c.send("DELETE", "/v1/auth/api-keys/" + k["id"].get<std::string>(), "", u.auth());
  EXPECT_EQ(del.status, 204);
  EXPECT_TRUE(del.body.empty());
  expect_error(c.send("GET", "/v1/auth/me", "", bearer(key)), 401, "unauthenticated");
  EXPECT_TRUE(c.send("GET", "/v1/auth/api-keys", "", u.auth()).doc()["items"][0]["revoked_at"]
                  .is_string());
}

TEST_F(Api, EveryAuthFailure) {
  auto u = make_user(address());
  http_client c{address()};
  auto e = expect_error(c.send("GET", "/v1/playbooks"), 401, "unauthenticated");
  // Authentication comes before any judgement of the body.
  expect_error(c.send("POST", "/v1/playbooks", "{not json"), 401, "unauthenticated");
  expect_error(c.send("POST", "/v1/playbooks", "x", {{"Content-Type", "text/plain"}}), 401,
               "unauthenticated");
  expect_error(c.send("GET", "/v1/playbooks", "", {{"Authorization", "Basic dXNlcjpwYXNz"}}), 401,
               "unauthenticated");
  expect_error(c.send("GET", "/v1/playbooks", "", bearer("tr_short")), 401, "unauthenticated");
  auto unknown = auth::generate_api_key();
  expect_error(c.send("GET", "/v1/playbooks", "", bearer(unknown.key)), 401, "unauthenticated");
  expect_error(c.send("GET", "/v1/playbooks", "", bearer("not.a.jwt")), 401, "unauthenticated");

  // A key whose secret part is wrong but whose prefix exists.
  auto key = make_key(u, {{"name", "k"}});
  auto forged = key.substr(0, key.size() - 4) + (key.substr(key.size() - 4) == "AAAA" ? "BBBB" : "AAAA");
  expect_error(c.send("GET", "/v1/playbooks", "", bearer(forged)), 401, "unauthenticated");

  // Expired key.
  auto expiring = make_key(u, {{"name", "soon"}, {"expires_in_days", 1}});
  EXPECT_EQ(c.send("GET", "/v1/playbooks", "", bearer(expiring)).status, 200);
  {
    pqxx::connection conn{conninfo()};
    pqxx::work tx{conn};
    tx.exec_params("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE prefix = $1",
                   *auth::api_key_prefix(expiring));
    tx.commit();
  }
  // The credential cache may still hold the key for auth.cache_ttl.
  EXPECT_TRUE(eventually([&] {
    return c.send("GET", "/v1/playbooks", "", bearer(expiring)).status == 401;
  }));

  // Expired and wrongly signed access tokens.
  std::string secret;
  {
    pqxx::connection conn{conninfo()};
    pqxx::read_transaction tx{conn};
    secret = tx.exec("SELECT value FROM node_settings WHERE key = 'jwt_secret'")[0][0].c_str();
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto expired = auth::jwt_sign({u.id, u.email, now - 100, now - 1}, secret);
  e = expect_error(c.send("GET", "/v1/auth/me", "", bearer(expired)), 401, "unauthenticated");
  EXPECT_NE(e["message"].get<std::string>().find("expired"), std::string::npos);
  auto forged_jwt = auth::jwt_sign({u.id, u.email, now, now + 100}, "another secret");
  expect_error(c.send("GET", "/v1/auth/me", "", bearer(forged_jwt)), 401, "unauthenticated");
}

TEST_F(Api, MissingScopeIsForbidden) {
  auto u = make_user(address());
  http_client c{address()};
  auto reader = make_key(u, {{"name", "reader"}, {"scopes", {"playbooks:read"}}});
  EXPECT_EQ(c.send("GET", "/v1/playbooks", "", bearer(reader)).status, 200);
  auto before = table_counts(conninfo());
  expect_error(c.send("POST", "/v1/playbooks", json{{"name", "x"}}.dump(), bearer(reader)), 403,
               "permission_denied");
  EXPECT_EQ(before, table_counts(conninfo()));
  // A key cannot mint a key with more power than it has.
  expect_error(c.send("POST", "/v1/auth/api-keys", json{{"name", "escalate"}}.dump(),
                      bearer(reader)),
               403, "permission_denied");
  auto group = make_key(u, {{"name", "group"}, {"scopes", {"playbooks:*"}}});
  EXPECT_EQ(c.send("POST", "/v1/playbooks", json{{"name", "x"}}.dump(), bearer(group)).status, 201);
  expect_error(c.send("POST", "/v1/auth/api-keys",
                      json{{"name", "bad"}, {"scopes", {"nope:read"}}}.dump(), u.auth()),
               400, "invalid_argument");
}

// ---- playbooks ------------------------------------------------------------------

TEST_F(Api, CreateWithAceContentMakesVersionOne) {
  auto u = make_user(address());
  auto p = create_playbook(u, {{"name", "research"}, {"content", ace_content}});
  EXPECT_EQ(p["name"], "research");
  EXPECT_EQ(p["status"], "active");
  EXPECT_EQ(p["source"], "user_created");
  EXPECT_EQ(p["evolution_threshold"], 5);
  EXPECT_EQ(p["pending_outcomes"], 0);
  EXPECT_TRUE(p["active_job_id"].is_null());
  ASSERT_TRUE(p["current_version"].is_object());
  EXPECT_EQ(p["current_version"]["number"], 1);
  EXPECT_EQ(p["current_version"]["bullet_count"], 2);
  EXPECT_EQ(p["current_version"]["content"], ace_content);
}

TEST_F(Api, CreateFromMarkdownConvertsBullets) {
  auto u = make_user(address());
  auto p = create_playbook(u, {{"name", "md"},
                               {"content", "# Strategies & Insights\n- one\n- two\n\n## Notes\n* three\n"},
                               {"evolution_threshold", 2}});
  EXPECT_EQ(p["evolution_threshold"], 2);
  auto content = p["current_version"]["content"].get<std::string>();
  EXPECT_EQ(p["current_version"]["bullet_count"], 3);
  EXPECT_NE(content.find("[sai-00001] helpful=0 harmful=0 :: one"), std::string::npos) << content;
  EXPECT_NE(content.find("[sai-00002] helpful=0 harmful=0 :: two"), std::string::npos) << content;
  EXPECT_NE(content.find("## NOTES"), std::string::npos) << content;
}

TEST_F(Api, CreateWithoutContentHasNoVersion) {
  auto u = make_user(address());
  auto p = create_playbook(u, {{"name", "empty"}, {"description", "nothing yet"}});
  EXPECT_TRUE(p["current_version"].is_null());
  EXPECT_EQ(p["description"], "nothing yet");
  http_client c{address()};
  auto versions = c.send("GET", "/v1/playbooks/" + p["id"].get<std::string>() + "/versions", "",
                         u.auth());
  EXPECT_EQ(versions.doc()["items"].size(), 0u);
}

TEST_F(Api, ListPaginatesNewestFirstAndFilters) {
  auto u = make_user(address());
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(create_playbook(u, {{"name", "p" + std::to_string(i)}})["id"]);
  http_client c{address()};
  ASSERT_EQ(c.send("DELETE", "/v1/playbooks/" + ids[0], "", u.auth()).status, 204);

  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    auto r = c.send("GET", "/v1/playbooks?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor),
                    "", u.auth());
    ASSERT_EQ(r.status, 200) << r.body;
    auto page_doc = r.doc();
    for (auto& item : page_doc["items"])
      seen.push_back(item["id"]);
    if (page_doc["next_cursor"].is_null())
      break;
    cursor = page_doc["next_cursor"];
  }
  EXPECT_EQ(seen, (std::vector<std::string>{ids[4], ids[3], ids[2], ids[1], ids[0]}));

  auto active = c.send("GET", "/v1/playbooks?status=active&limit=200", "", u.auth()).doc();
  EXPECT_EQ(active["items"].size(), 4u);
  auto archived = c.send("GET", "/v1/playbooks?status=archived", "", u.auth()).doc();
  ASSERT_EQ(archived["items"].size(), 1u);
  EXPECT_EQ(archived["items"][0]["id"], ids[0]);
  expect_error(c.send("GET", "/v1/playbooks?status=deleted", "", u.auth()), 400,
               "invalid_argument");
  expect_error(c.send("GET", "/v1/playbooks?limit=0", "", u.auth()), 400, "invalid_argument");
  expect_error(c.send("GET", "/v1/playbooks?cursor=%%%", "", u.auth()), 400, "invalid_argument");
  expect_error(c.send("GET", "/v1/playbooks?cursor=bm90LWEtdXVpZA", "", u.auth()), 400,
               "invalid_argument");
}

TEST_F(Api, PatchAndArchive) {
  auto u = make_user(address());
  auto p = create_playbook(u, {{"name", "before"}, {"content", ace_content}});
  std::string path = "/v1/playbooks/" + p["id"].get<std::string>();
  http_client c{address()};
  auto r = c.send("PATCH", path,
                  json{{"name", "after"}, {"description", "d"}, {"evolution_threshold", 9}}.dump(),
                  u.auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.doc()["name"], "after");
  EXPECT_EQ(r.doc()["evolution_threshold"], 9);
  EXPECT_EQ(r.doc()["current_version"]["number"], 1);

  EXPECT_EQ(c.send("DELETE", path, "", u.auth()).status, 204);
  auto archived = c.send("GET", path, "", u.auth()).doc();
  EXPECT_EQ(archived["status"], "archived");
  expect_error(c.send("POST", path + "/versions", json{{"content", ace_content}}.dump(), u.auth()),
               409, "conflict");
  auto reactivated = c.send("PATCH", path, json{{"status", "active"}}.dump(), u.auth());
  EXPECT_EQ(reactivated.doc()["status"], "active");
}

TEST_F(Api, VersionsManualRollbackAndDiff) {
  auto u = make_user(address());
  auto p = create_playbook(u, {{"name", "v"}, {"content", ace_content}});
  std::string path = "/v1/playbooks/" + p["id"].get<std::string>();
  http_client c{address()};

  std::string v2 =
      "## STRATEGIES & INSIGHTS\n"
      "[sai-00001] helpful=4 harmful=0 :: Check the API's pagination before concluding.\n"
      "[sai-00007] helpful=0 harmful=0 :: Prefer official docs.\n";
  auto r = c.send("POST", path + "/versions",
                  json{{"content", v2}, {"diff_summary", "edited by hand"}}.dump(), u.auth());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.doc()["number"], 2);
  EXPECT_EQ(r.doc()["diff_summary"], "edited by hand");

  auto v2doc = c.send("GET", path + "/versions/2", "", u.auth()).doc();
  EXPECT_EQ(v2doc["content"], v2);

  auto d = c.send("GET", path + "/versions/2/diff", "", u.auth());
  ASSERT_EQ(d.status, 200) << d.body;
  auto diff = d.doc();
  ASSERT_EQ(diff["added"].size(), 1u);
  EXPECT_EQ(diff["added"][0]["id"], "sai-00007");
  ASSERT_EQ(diff["removed"].size(), 1u);
  EXPECT_EQ(diff["removed"][0]["id"], "err-00002");
  ASSERT_EQ(diff["changed"].size(), 1u);
  EXPECT_EQ(diff["changed"][0]["id"], "sai-00001");
  EXPECT_EQ(diff["changed"][0]["from"]["helpful"], 3);
  EXPECT_EQ(diff["changed"][0]["to"]["helpful"], 4);

  auto rb = c.send("POST", path + "/rollback", json{{"version_number", 1}}.dump(), u.auth());
  ASSERT_EQ(rb.status, 201) << rb.body;
  EXPECT_EQ(rb.doc()["number"], 3);
  EXPECT_EQ(rb.doc()["content"], ace_content);
  auto now = c.send("GET", path, "", u.auth()).doc();
  EXPECT_EQ(now["current_version"]["number"], 3);

  auto list = c.send("GET", path + "/versions", "", u.auth()).doc()["items"];
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0]["number"], 3);
  EXPECT_EQ(list[2]["number"], 1);
  EXPECT_FALSE(list[0].contains("content"));

  auto from1 = c.send("GET", path + "/versions/3/diff?from=1", "", u.auth()).doc();
  EXPECT_TRUE(from1["added"].empty() && from1["removed"].empty() && from1["changed"].empty());

  expect_error(c.send("GET", path + "/versions/9", "", u.auth()), 404, "not_found");
  expect_error(c.send("GET", path + "/versions/0", "", u.auth()), 400, "invalid_argument");
  expect_error(c.send("GET", path + "/versions/abc", "", u.auth()), 400, "invalid_argument");
  expect_error(c.send("POST", path + "/rollback", json{{"version_number", 99}}.dump(), u.auth()),
               404, "not_found");

  // Converted markdown takes ids from the playbook's counter, which only
  // grows: sai-00007 was seen, and rolling back to version 1 did not lower it.
  auto again = c.send("POST", path + "/versions", json{{"content", "- fresh idea\n"}}.dump(),
                      u.auth());
  ASSERT_EQ(again.status, 201);
  EXPECT_NE(again.doc()["content"].get<std::string>().find("[sai-00008] helpful=0 harmful=0 :: fresh idea"),
            std::string::npos)
      << again.body;
}

TEST_F(Api, AnotherTenantsPlaybookIsNotFound) {
  auto a = make_user(address());
  auto b = make_user(address());
  auto p = create_playbook(a, {{"name", "private"}, {"content", ace_content}});
  std::string path = "/v1/playbooks/" + p["id"].get<std::string>();
  http_client c{address()};
  auto before = table_counts(conninfo());
  expect_error(c.send("GET", path, "", b.auth()), 404, "not_found");
  expect_error(c.send("PATCH", path, json{{"name", "mine"}}.dump(), b.auth()), 404, "not_found");
  expect_error(c.send("DELETE", path, "", b.auth()), 404, "not_found");
  expect_error(c.send("GET", path + "/versions", "", b.auth()), 404, "not_found");
  expect_error(c.send("GET", path + "/versions/1", "", b.auth()), 404, "not_found");
  expect_error(c.send("GET", path + "/versions/1/diff", "", b.auth()), 404, "not_found");
  expect_error(c.send("POST", path + "/versions", json{{"content", "- x"}}.dump(), b.auth()), 404,
               "not_found");
  expect_error(c.send("POST", path + "/rollback", json{{"version_number", 1}}.dump(), b.auth()),
               404, "not_found");
  EXPECT_EQ(before, table_counts(conninfo()));
  EXPECT_TRUE(c.send("GET", "/v1/playbooks", "", b.auth()).doc()["items"].empty());
  // API keys are per user too.
  auto key = c.send("POST", "/v1/auth/api-keys", json{{"name", "a"}}.dump(), a.auth()).doc();
  expect_error(c.send("DELETE", "/v1/auth/api-keys/" + key["id"].get<std::string>(), "", b.auth()),
               404, "not_found");
}

// ---- bad input: a clear error and no change -----------------------------------

struct bad_request {
  std::string name;
  std::string method;
  std::string path; // "{id}" is replaced with a real playbook id
  std::string body;
  std::map<std::string, std::string> headers;
  int status;
  std::string code;
  std::string field;
};

TEST_F(Api, BadInputIsRefusedAndChangesNothing) {
  auto u = make_user(address());
  auto p = create_playbook(u, {{"name", "target"}, {"content", ace_content}});
  std::string id = p["id"];
  std::string huge_name(4 * 200 + 1, 'n');
  std::string deep(200, '[');
  std::vector<bad_request> cases = {
      {"malformed json", "POST", "/v1/playbooks", "{\"name\": ", {}, 400, "invalid_json", ""},
      {"json array", "POST", "/v1/playbooks", "[1,2]", {}, 400, "invalid_json", ""},
      {"empty body", "POST", "/v1/playbooks", "", {}, 400, "invalid_json", ""},
      {"deep nesting", "POST", "/v1/playbooks", "{\"a\":" + deep, {}, 400, "invalid_json", ""},
      {"bad utf-8", "POST", "/v1/playbooks", "{\"name\": \"\xff\xfe\"}", {}, 400, "invalid_json",
       ""},
      {"text/plain", "POST", "/v1/playbooks", "{\"name\":\"x\"}",
       {{"Content-Type", "text/plain"}}, 415, "unsupported_media_type", ""},
      {"form", "POST", "/v1/playbooks", "name=x",
       {{"Content-Type", "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type", ""},
      {"missing name", "POST", "/v1/playbooks", "{}", {}, 400, "invalid_argument", "name"},
      {"name wrong type", "POST", "/v1/playbooks", "{\"name\": 5}", {}, 400, "invalid_argument",
       "name"},
      {"empty name", "POST", "/v1/playbooks", "{\"name\": \"\"}", {}, 400, "invalid_argument",
       "name"},
      {"name too long", "POST", "/v1/playbooks", json{{"name", huge_name}}.dump(), {}, 413,
       "payload_too_large", "name"},
      {"threshold zero", "POST", "/v1/playbooks", "{\"name\":\"x\",\"evolution_threshold\":0}",
       {}, 400, "invalid_argument", "evolution_threshold"},
      {"threshold string", "POST", "/v1/playbooks",
       "{\"name\":\"x\",\"evolution_threshold\":\"5\"}", {}, 400, "invalid_argument",
       "evolution_threshold"},
      {"threshold float", "POST", "/v1/playbooks", "{\"name\":\"x\",\"evolution_threshold\":2.5}",
       {}, 400, "invalid_argument", "evolution_threshold"},
      {"threshold huge", "POST", "/v1/playbooks",
       "{\"name\":\"x\",\"evolution_threshold\":18446744073709551615}", {}, 400,
       "invalid_argument", "evolution_threshold"},
      {"unknown field", "POST", "/v1/playbooks", "{\"name\":\"x\",\"colour\":\"red\"}", {}, 400,
       "invalid_argument", "colour"},
      {"duplicate bullet ids", "POST", "/v1/playbooks",
       json{{"name", "x"},
            {"content", "## A\n[a-00001] helpful=0 harmful=0 :: one\n[a-00001] helpful=0 "
                        "harmful=0 :: two\n"}}
           .dump(),
       {}, 400, "invalid_argument", "content"},
      {"sql metacharacters stay data", "GET", "/v1/playbooks/'%3B%20DROP%20TABLE%20users%3B--",
       "", {}, 400, "invalid_argument", "id"},
      {"invalid uuid", "GET", "/v1/playbooks/not-a-uuid", "", {}, 400, "invalid_argument", "id"},
      {"unknown uuid", "GET", "/v1/playbooks/0190a0b0-0000-7000-8000-000000000001", "", {}, 404,
       "not_found", ""},
      {"unknown status", "PATCH", "/v1/playbooks/{id}", "{\"status\": \"deleted\"}", {}, 400,
       "invalid_argument", "status"},
      {"empty patch", "PATCH", "/v1/playbooks/{id}", "{}", {}, 400, "invalid_argument", ""},
      {"patch wrong type", "PATCH", "/v1/playbooks/{id}", "{\"name\": [\"x\"]}", {}, 400,
       "invalid_argument", "name"},
      {"version without content", "POST", "/v1/playbooks/{id}/versions", "{}", {}, 400,
       "invalid_argument", "content"},
      {"rollback wrong type", "POST", "/v1/playbooks/{id}/rollback",
       "{\"version_number\": \"1\"}", {}, 400, "invalid_argument", "version_number"},
      {"rollback negative", "POST", "/v1/playbooks/{id}/rollback", "{\"version_number\": -1}", {},
       400, "invalid_argument", "version_number"},
      {"diff bad from", "GET", "/v1/playbooks/{id}/versions/1/diff?from=x", "", {}, 400,
       "invalid_argument", "from"},
      {"key unknown scope", "POST", "/v1/auth/api-keys", "{\"name\":\"k\",\"scopes\":[\"x:y\"]}",
       {}, 400, "invalid_argument", "scopes"},
      {"key scopes not array", "POST", "/v1/auth/api-keys", "{\"name\":\"k\",\"scopes\":\"*\"}",
       {}, 400, "invalid_argument", "scopes"},
      {"key expiry zero", "POST", "/v1/auth/api-keys", "{\"name\":\"k\",\"expires_in_days\":0}",
       {}, 400, "invalid_argument", "expires_in_days"},
      {"revoke invalid uuid", "DELETE", "/v1/auth/api-keys/zzz", "", {}, 400, "invalid_argument",
       "id"},
  };
  http_client c{address()};
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.name);
    auto path = bad.path;
    if (auto pos = path.find("{id}"); pos != std::string::npos)
      path.replace(pos, 4, id);
    auto headers = u.auth();
    for (auto& [k, v] : bad.headers)
      headers[k] = v;
    auto before = table_counts(conninfo());
    auto r = c.send(bad.method, path, bad.body, headers);
    auto e = expect_error(r, bad.status, bad.code);
    if (!bad.field.empty()) {
      EXPECT_EQ(e["details"]["field"], bad.field) << r.body;
    }
    EXPECT_EQ(before, table_counts(conninfo()));
  }
}

TEST_F(Api, OversizeBodyIs413AndTheServerStaysUp) {
  auto u = make_user(address());
  http_client c{address()};
  auto before = table_counts(conninfo());
  std::string big = json{{"name", "x"}, {"description", std::string(1100 * 1024, 'a')}}.dump();
  auto r = c.send("POST", "/v1/playbooks", big, u.auth());
  expect_error(r, 413, "payload_too_large");
  EXPECT_EQ(before, table_counts(conninfo()));
  http_client fresh{address()};
  EXPECT_EQ(fresh.send("GET", "/healthz").status, 200);
}

TEST_F(Api, MalformedHttpFramingGets400AndClose) {
  http_client c{address()};
  auto answer = c.raw("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  auto garbage = c.raw(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15));
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;
  std::string huge_header = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                            std::string(64 * 1024, 'h') + "\r\n\r\n";
  auto big = c.raw(huge_header);
  EXPECT_EQ(big.rfind("HTTP/1.1 413", 0), 0u) << big.substr(0, 200);
  EXPECT_EQ(c.send("GET", "/healthz").status, 200);
}

// ---- Postgres restarts under a running server ----------------------------------

TEST(DatabaseOutage, RequestsGet503ThenServiceResumesWithoutRestart) {
  test_database db; // a cluster of its own: this test stops it
  test_node n{db.conninfo()};
  auto u = make_user(n.address());
  http_client c{n.address()};
  ASSERT_EQ(c.send("POST", "/v1/playbooks", json{{"name", "before"}}.dump(), u.auth()).status, 201);

  db.pg->stop();
  auto r = c.send("POST", "/v1/playbooks", json{{"name", "during"}}.dump(), u.auth());
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_FALSE(r.header("retry-after").empty());
  EXPECT_EQ(r.doc()["error"]["code"], "unavailable");
  EXPECT_EQ(c.send("GET", "/readyz").status, 503);
  EXPECT_EQ(c.send("GET", "/healthz").status, 200);

  db.pg->start();
  EXPECT_TRUE(eventually([&] {
    return c.send("POST", "/v1/playbooks", json{{"name", "after"}}.dump(), u.auth()).status == 201;
  }));
  EXPECT_EQ(c.send("GET", "/readyz").status, 200);
  auto names = c.send("GET", "/v1/playbooks", "", u.auth()).doc()["items"];
  std::set<std::string> seen;
  for (auto& item : names)
    seen.insert(item["name"]);
  EXPECT_TRUE(seen.count("before") && seen.count("after") && !seen.count("during"));
}

} // namespace

// The dashboard: its page and files from the binary, each with the headers
// that keep a browser from running anything else (tests/browser drives it).
TEST_F(Api, TheDashboardIsServedWithItsSecurityHeaders) {
  http_client c{address()};
  auto page = c.send("GET", "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("/ui/app.js"), std::string::npos);
  auto csp = page.header("content-security-policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(page.header("x-frame-options"), "DENY");
  EXPECT_EQ(page.header("x-content-type-options"), "nosniff");
  auto script = c.send("GET", "/ui/app.js");
  ASSERT_EQ(script.status, 200);
  EXPECT_EQ(script.header("content-type"), "text/javascript; charset=utf-8");
  auto again = c.send("GET", "/ui/app.js", "", {{"If-None-Match", script.header("etag")}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  for (const char* bad : {"/ui/missing.js", "/ui/..", "/ui/%2e%2e%2fapp.js", "/ui/app.js/x"}) {
    auto r = c.send("GET", bad);
    EXPECT_EQ(r.status, 404) << bad;
    EXPECT_EQ(r.doc()["error"]["code"], "not_found") << bad;
  }
  EXPECT_EQ(c.send("POST", "/", "{}", {{"Content-Type", "application/json"}}).status, 405);
}
