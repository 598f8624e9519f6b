// What agents use: task-relevant context over HTTP (and, through the
// official SDK, MCP: tests/mcp/).
#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace troupe::test;

namespace {

class Agents : public node_suite<Agents> {};

const char* crafted =
    "## STRATEGIES & INSIGHTS\n"
    "[sai-00001] helpful=0 harmful=0 :: Write the changelog entry before tagging a release.\n"
    "[sai-00002] helpful=3 harmful=0 :: Retry a flaky HTTP request with exponential backoff.\n"
    "[sai-00003] helpful=0 harmful=0 :: Keep commit messages short and in the imperative.\n"
    "## COMMON MISTAKES\n"
    "[err-00004] helpful=0 harmful=0 :: Never retry a POST without an idempotency key.\n"
    "[err-00005] helpful=0 harmful=0 :: Do not log secrets, even at debug level.\n";

std::string context_url(const std::string& pb, const std::string& query) {
  return "/v1/playbooks/" + pb + "/context?" + query;
}

TEST_F(Agents, ContextRanksTheTasksBulletsFirstWithinTheBudget) {
  auto u = make_user(address());
  http_client c{address()};
  auto pb = make_playbook(c, u, 5, crafted);
  auto builds = metric(address(), "troupe_context_index_builds_total");
  auto r = c.send("GET", context_url(pb, "task=retry+the+HTTP+request&max_tokens=500"), "", u.auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = r.doc();
  EXPECT_EQ(doc["bullet_ids"], json::array({"sai-00002", "err-00004"}));
  EXPECT_EQ(doc["content"],
            "## STRATEGIES & INSIGHTS\n"
            "[sai-00002] helpful=3 harmful=0 :: Retry a flaky HTTP request with exponential backoff.\n"
            "## COMMON MISTAKES\n"
            "[err-00004] helpful=0 harmful=0 :: Never retry a POST without an idempotency key.\n");
  EXPECT_EQ(doc["total_bullets"], 5);
  EXPECT_EQ(doc["version"], 1);
  EXPECT_LE(doc["token_estimate"].get<int>(), 500);
  // A budget that holds one bullet gets the best one; the same request, the
  // same bytes; the index was built once for all of them.
  auto small = c.send("GET", context_url(pb, "task=retry+the+HTTP+request&max_tokens=35"), "", u.auth());
  EXPECT_EQ(small.doc()["bullet_ids"], json::array({"sai-00002"}));
  EXPECT_LE(small.doc()["token_estimate"].get<int>(), 35);
  EXPECT_EQ(c.send("GET", context_url(pb, "task=retry+the+HTTP+request&max_tokens=35"), "", u.auth()).body,
            small.body);
  EXPECT_EQ(metric(address(), "troupe_context_index_builds_total"), builds + 1);
  // A new version is indexed on its first use; the old one stays addressable.
  ASSERT_EQ(c.send("POST", "/v1/playbooks/" + pb + "/versions",
                   json{{"content", "## S\n[s-00009] helpful=0 harmful=0 :: retry less\n"}}.dump(),
                   u.auth())
                .status,
            201);
  EXPECT_EQ(c.send("GET", context_url(pb, "task=retry"), "", u.auth()).doc()["bullet_ids"],
            json::array({"s-00009"}));
  EXPECT_EQ(c.send("GET", context_url(pb, "task=retry&version=1"), "", u.auth()).doc()["version"], 1);
  EXPECT_EQ(metric(address(), "troupe_context_index_builds_total"), builds + 2);
}

TEST_F(Agents, ContextRefusesBadInputAndOtherTenants) {
  auto u = make_user(address());
  http_client c{address()};
  auto pb = make_playbook(c, u, 5, crafted);
  auto field = [&](const std::string& query) {
    auto r = c.send("GET", context_url(pb, query), "", u.auth());
    return std::to_string(r.status) + " " + r.doc()["error"]["details"].value("field", "");
  };
  EXPECT_EQ(field(""), "400 task");
  EXPECT_EQ(field("task="), "400 task");
  EXPECT_EQ(field("task=x&max_tokens=0"), "400 max_tokens");
  EXPECT_EQ(field("task=x&max_tokens=abc"), "400 max_tokens");
  EXPECT_EQ(field("task=x&version=-1"), "400 version");
  EXPECT_EQ(field("task=" + std::string(11000, 'a')), "413 task");
  EXPECT_EQ(c.send("GET", context_url(pb, "task=x&version=7"), "", u.auth()).status, 404);
  auto empty = make_playbook(c, u, 5);
  EXPECT_EQ(c.send("GET", context_url(empty, "task=x"), "", u.auth()).status, 404);
  auto other = make_user(address());
  EXPECT_EQ(c.send("GET", context_url(pb, "task=retry"), "", other.auth()).status, 404);
  auto writer = make_key(address(), u, json::array({"outcomes:write"}));
  EXPECT_EQ(c.send("GET", context_url(pb, "task=retry"), "", bearer(writer)).status, 403);
}

TEST_F(Agents, FindPlaybookRanksTheCallersPlaybooksByTheTask) {
  auto u = make_user(address());
  http_client c{address()};
  auto releases = make_playbook(c, u, 5,
                                "## S\n[s-00001] helpful=0 harmful=0 :: tag the release after the changelog\n",
                                "releases");
  auto http = make_playbook(c, u, 5, crafted, "http clients");
  make_playbook(c, u, 5, "## S\n[s-00001] helpful=0 harmful=0 :: water the plants\n", "garden");
  auto find = [&](const std::string& task) {
    return c.send("POST", "/v1/playbooks/find", json{{"task_description", task}}.dump(), u.auth());
  };
  auto r = find("retry a flaky HTTP request");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.doc()["best"]["id"], http);
  ASSERT_EQ(r.doc()["items"].size(), 1u);
  EXPECT_EQ(find("write the changelog and tag a release").doc()["best"]["id"], releases);
  EXPECT_TRUE(find("compile a kernel").doc()["best"].is_null());
  // Another tenant's playbooks are never candidates.
  auto other = make_user(address());
  EXPECT_TRUE(c.send("POST", "/v1/playbooks/find",
                     json{{"task_description", "retry a flaky HTTP request"}}.dump(), other.auth())
                  .doc()["best"]
                  .is_null());
  EXPECT_EQ(c.send("POST", "/v1/playbooks/find", json{{"task", "x"}}.dump(), u.auth()).status, 400);
  EXPECT_EQ(c.send("POST", "/v1/playbooks/find", json::object().dump(), u.auth()).status, 400);
}

} // namespace
