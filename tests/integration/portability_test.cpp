// Export and import (docs/portability.md): a playbook's whole history in one
// document, and a new playbook made from it, or nothing.
#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace troupe::test;

namespace {

class Portability : public node_suite<Portability> {
public:
  static void configure(config::settings& s) {
    s.playbooks.max_import_bytes = 3 << 20; // beyond server.max_body_bytes (1 MiB)
    s.server.max_large_bodies = 1;
  }
};

const char* ace =
    "## STRATEGIES & INSIGHTS\n"
    "[sai-00001] helpful=2 harmful=0 :: Retry a flaky HTTP request with exponential backoff.\n"
    "[sai-00002] helpful=0 harmful=1 :: Write the changelog entry before tagging a release.\n"
    "## COMMON MISTAKES\n"
    "[err-00003] helpful=0 harmful=0 :: Never retry a POST without an idempotency key.\n";

json get(http_client& c, const user& u, const std::string& path) {
  auto r = c.send("GET", path, "", u.auth());
  EXPECT_EQ(r.status, 200) << path << ": " << r.body;
  return r.doc();
}

// Every version with its content, oldest first.
json versions_of(http_client& c, const user& u, const std::string& pb) {
  json out = json::array();
  auto page = get(c, u, "/v1/playbooks/" + pb + "/versions?limit=200");
  for (const auto& v : page["items"]) {
    auto full = get(c, u, "/v1/playbooks/" + pb + "/versions/" + std::to_string(v["number"].get<int>()));
    out.insert(out.begin(), json{{"number", full["number"]},
                                 {"content", full["content"]},
                                 {"diff_summary", full["diff_summary"]},
                                 {"created_at", full["created_at"]}});
  }
  return out;
}

// The outcomes without their row ids and evolution links, oldest first.
json outcomes_of(http_client& c, const user& u, const std::string& pb) {
  json out = json::array();
  auto page = get(c, u, "/v1/playbooks/" + pb + "/outcomes?limit=200");
  for (auto o : page["items"]) {
    for (const char* k : {"id", "evolution_job_id", "idempotency_key", "reflection"})
      o.erase(k);
    out.insert(out.begin(), o);
  }
  return out;
}

long long playbooks_of(const user& u) {
  return scalar(shared_database().conninfo(),
                "SELECT count(*) FROM playbooks WHERE user_id = '" + u.id + "'");
}


TEST_F(Portability, AnExportImportsAsANewPlaybookWithTheSameHistory) {
  auto u = make_user(address());
  http_client c{address()};
  auto pb = make_playbook(c, u, 2, ace, "release hygiene");
  // History: an evolution (version 2, two processed outcomes), a manual
  // version, and one outcome still pending.
  post_outcome(c, u, pb, "success", "", {{"bullet_ids", {"sai-00001"}}, {"notes", "fast"}});
  auto second = post_outcome(c, u, pb, "failure", "", {{"bullet_ids", {"sai-00002"}}, {"metadata", {{"run", 7}}}});
  auto job = second["evolution"]["job_id"].get<std::string>();
  ASSERT_TRUE(eventually([&] { return get(c, u, "/v1/jobs/" + job)["status"] == "completed"; }));
  ASSERT_EQ(c.send("POST", "/v1/playbooks/" + pb + "/versions",
                   json{{"content", get(c, u, "/v1/playbooks/" + pb)["current_version"]["content"]
                                        .get<std::string>() +
                                    "- Tag from a clean checkout.\n"},
                        {"diff_summary", "by hand"}}
                       .dump(),
                   u.auth())
                .status,
            201);
  post_outcome(c, u, pb, "partial", "", {{"task_description", "tag 2.0"}});

  auto exported = c.send("GET", "/v1/playbooks/" + pb + "/export", "", u.auth());
  ASSERT_EQ(exported.status, 200) << exported.body;
  EXPECT_NE(exported.header("content-disposition").find("attachment"), std::string::npos);
  auto doc = exported.doc();
  EXPECT_EQ(doc["format"], "troupe.playbook-export");
  EXPECT_EQ(doc["versions"].size(), 3u);
  EXPECT_EQ(doc["outcomes"].size(), 3u);

  // Another user imports it: a new playbook, the same history.
  auto other = make_user(address());
  auto imported = c.send("POST", "/v1/playbooks/import", exported.body, other.auth());
  ASSERT_EQ(imported.status, 201) << imported.body;
  auto copy = imported.doc();
  auto original = get(c, u, "/v1/playbooks/" + pb);
  EXPECT_NE(copy["id"], pb);
  EXPECT_EQ(copy["source"], "imported");
  EXPECT_EQ(copy["name"], "release hygiene");
  EXPECT_EQ(copy["evolution_threshold"], 2);
  EXPECT_EQ(copy["pending_outcomes"], 1);
  EXPECT_EQ(copy["pending_outcomes"], original["pending_outcomes"]);
  EXPECT_EQ(copy["current_version"]["number"], 3);
  EXPECT_EQ(copy["current_version"]["content"], original["current_version"]["content"]);
  auto id = copy["id"].get<std::string>();
  EXPECT_EQ(versions_of(c, other, id), versions_of(c, u, pb));
  EXPECT_EQ(outcomes_of(c, other, id), outcomes_of(c, u, pb));
  // The copy exports to the same document but for its own identity.
  auto again = get(c, other, "/v1/playbooks/" + id + "/export");
  EXPECT_EQ(again["versions"], doc["versions"]);
  EXPECT_EQ(again["outcomes"], doc["outcomes"]);
  EXPECT_EQ(again["playbook"]["next_bullet_id"], doc["playbook"]["next_bullet_id"]);
  EXPECT_EQ(again["playbook"]["source"], "imported");
  // The bullet id counter came along: the next new bullet gets the same id
  // in both.
  json more = {{"content", original["current_version"]["content"].get<std::string>() + "- One more.\n"}};
  auto a = c.send("POST", "/v1/playbooks/" + pb + "/versions", more.dump(), u.auth()).doc();
  auto b = c.send("POST", "/v1/playbooks/" + id + "/versions", more.dump(), other.auth()).doc();
  EXPECT_EQ(a["content"], b["content"]);
  // The pending outcome counts towards the copy's threshold like any other.
  auto next = post_outcome(c, other, id, "success");
  EXPECT_TRUE(next["evolution"].is_object()) << next.dump();
}

TEST_F(Portability, AnInvalidDocumentIsRefusedAndCreatesNothing) {
  auto u = make_user(address());
  http_client c{address()};
  auto pb = make_playbook(c, u, 5, ace);
  post_outcome(c, u, pb, "success");
  auto good = get(c, u, "/v1/playbooks/" + pb + "/export");
  auto before = playbooks_of(u);
  auto refused = [&](json doc, const std::string& field, int status = 400) {
    auto r = c.send("POST", "/v1/playbooks/import", doc.dump(), u.auth());
    EXPECT_EQ(r.status, status) << field << ": " << r.body;
    EXPECT_EQ(r.doc()["error"]["details"].value("field", ""), field) << r.body;
  };
  auto with = [&](const std::function<void(json&)>& change) {
    json d = good;
    change(d);
    return d;
  };
  refused(with([](json& d) { d["format"] = "ace"; }), "format");
  refused(with([](json& d) { d["format_version"] = 2; }), "format_version");
  refused(with([](json& d) { d["extra"] = 1; }), "extra");
  refused(with([](json& d) { d["playbook"].erase("name"); }), "playbook.name");
  refused(with([](json& d) { d["playbook"]["status"] = "deleted"; }), "playbook.status");
  refused(with([](json& d) { d["playbook"]["evolution_threshold"] = 0; }), "playbook.evolution_threshold");
  refused(with([](json& d) { d["playbook"]["current_version"] = 9; }), "playbook.current_version");
  refused(with([](json& d) { d["versions"][0]["content"] = "[a-1] helpful=0 harmful=0 :: x\n[a-1] helpful=0 harmful=0 :: y\n"; }),
          "versions[0].content");
  refused(with([](json& d) { d["versions"][0]["content"] = std::string(600 * 1024, 'x'); }),
          "versions[0].content", 413);
  refused(with([](json& d) { d["versions"].push_back(d["versions"][0]); }), "versions[1].number");
  refused(with([](json& d) { d["versions"][0]["created_at"] = "2026-02-30T00:00:00Z"; }),
          "versions[0].created_at");
  refused(with([](json& d) { d["outcomes"][0]["outcome"] = "great"; }), "outcomes[0].outcome");
  refused(with([](json& d) { d["outcomes"][0]["processed_at"] = "yesterday"; }), "outcomes[0].processed_at");
  refused(with([](json& d) { d["outcomes"][0]["id"] = "x"; }), "outcomes[0].id");
  refused(with([](json& d) { d["outcomes"] = "none"; }), "outcomes");
  EXPECT_EQ(c.send("POST", "/v1/playbooks/import", "[]", u.auth()).status, 400);
  EXPECT_EQ(playbooks_of(u), before);
  // Tenancy and scopes.
  auto stranger = make_user(address());
  EXPECT_EQ(c.send("GET", "/v1/playbooks/" + pb + "/export", "", stranger.auth()).status, 404);
  auto reader = make_key(address(), u, json::array({"playbooks:read"}));
  EXPECT_EQ(c.send("GET", "/v1/playbooks/" + pb + "/export", "", bearer(reader)).status, 200);
  EXPECT_EQ(c.send("POST", "/v1/playbooks/import", good.dump(), bearer(reader)).status, 403);
  EXPECT_EQ(playbooks_of(u), before);
}

// A playbook of 1.6 MB: more than server.max_body_bytes, which an import may
// be; one of more than playbooks.max_import_bytes is neither exported nor
// imported.
std::string big_content(int bullets, int base) {
  std::string s = "## STRATEGIES & INSIGHTS\n";
  for (int i = 0; i < bullets; ++i)
    s += "[big-" + std::to_string(base + i) + "] helpful=0 harmful=0 :: " + std::string(380, 'a' + i % 26) + "\n";
  return s;
}

TEST_F(Portability, ImportsMayExceedTheBodyLimitUpToTheirOwn) {
  auto u = make_user(address());
  http_client c{address()};
  auto pb = make_playbook(c, u, 5, big_content(1000, 1));
  for (int v = 0; v < 3; ++v)
    ASSERT_EQ(c.send("POST", "/v1/playbooks/" + pb + "/versions",
                     json{{"content", big_content(1000, 1 + 1000 * (v + 1))}}.dump(), u.auth())
                  .status,
              201);
  auto exported = c.send("GET", "/v1/playbooks/" + pb + "/export", "", u.auth());
  ASSERT_EQ(exported.status, 200) << exported.body.substr(0, 300);
  ASSERT_GT(exported.body.size(), 1u << 20);
  auto imported = c.send("POST", "/v1/playbooks/import", exported.body, u.auth());
  ASSERT_EQ(imported.status, 201) << imported.body.substr(0, 300);
  EXPECT_EQ(imported.doc()["current_version"]["number"], 4);
  // Other routes keep server.max_body_bytes.
  auto big = c.send("POST", "/v1/playbooks", json{{"name", std::string(1200000, 'n')}}.dump(), u.auth());
  EXPECT_EQ(big.status, 413);
  // Beyond playbooks.max_import_bytes: 413 for the body, 422 for the export.
  for (int v = 0; v < 4; ++v)
    ASSERT_EQ(c.send("POST", "/v1/playbooks/" + pb + "/versions",
                     json{{"content", big_content(1000, 5001 + 1000 * v)}}.dump(), u.auth())
                  .status,
              201);
  auto refused = c.send("GET", "/v1/playbooks/" + pb + "/export", "", u.auth());
  EXPECT_EQ(refused.status, 422) << refused.body.substr(0, 300);
  EXPECT_NE(refused.doc()["error"]["message"].get<std::string>().find("max_import_bytes"), std::string::npos);
  auto doc = exported.doc();
  for (int i = 0; i < 4; ++i)
    doc["versions"].push_back(doc["versions"][3]);
  ASSERT_GT(doc.dump().size(), 3u << 20);
  auto too_big = c.send("POST", "/v1/playbooks/import", doc.dump(), u.auth());
  EXPECT_EQ(too_big.status, 413);
}

TEST_F(Portability, LargeBodiesAreReceivedAFewAtATime) {
  auto u = make_user(address());
  http_client c{address()};
  auto pb = make_playbook(c, u, 5, ace);
  auto body = get(c, u, "/v1/playbooks/" + pb + "/export").dump();
  // One import whose body is still arriving holds the node's only slot.
  raw_connection slow{address()};
  ASSERT_TRUE(slow.send("POST /v1/playbooks/import HTTP/1.1\r\nHost: t\r\n" + bearer_header(u) +
                        "Content-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 10)));
  ASSERT_TRUE(eventually([&] { return metric(address(), "troupe_http_large_bodies") == 1; }));
  http_client other{address()};
  auto second = other.send("POST", "/v1/playbooks/import", body, u.auth());
  EXPECT_EQ(second.status, 503) << second.body;
  EXPECT_EQ(second.header("retry-after"), "1");
  // Small bodies are not held back.
  EXPECT_EQ(c.send("GET", "/v1/playbooks/" + pb, "", u.auth()).status, 200);
  ASSERT_TRUE(slow.send(body.substr(10)));
  auto first = slow.read_response();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 201) << first->body;
  // Answered: the slot is free again.
  ASSERT_TRUE(eventually([&] { return metric(address(), "troupe_http_large_bodies") == 0; }));
  http_client third{address()};
  EXPECT_EQ(third.send("POST", "/v1/playbooks/import", body, u.auth()).status, 201);
}

} // namespace
