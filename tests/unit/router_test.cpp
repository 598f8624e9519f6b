// The routing table: matching, 404 versus 405, query strings, OpenAPI.
#include "gateway/router.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace troupe::gateway;

TEST(Router, MatchesTemplatesAndExtractsParameters) {
  auto m = match("GET", "/v1/playbooks/abc/versions/3/diff");
  ASSERT_EQ(m.kind, match_result::found);
  EXPECT_EQ(m.matched->path, "/v1/playbooks/{id}/versions/{n}/diff");
  EXPECT_EQ(m.params, (std::vector<std::string>{"abc", "3"}));
}

TEST(Router, StaticRoutes) {
  EXPECT_EQ(match("GET", "/healthz").kind, match_result::found);
  EXPECT_EQ(match("POST", "/v1/playbooks").matched->path, "/v1/playbooks");
}

TEST(Router, UnknownPathIsNotFound) {
  EXPECT_EQ(match("GET", "/v1/nothing").kind, match_result::not_found);
  EXPECT_EQ(match("GET", "/v1/playbooks/").kind, match_result::not_found);
  EXPECT_EQ(match("GET", "/v1/playbooks//versions").kind, match_result::not_found);
  EXPECT_EQ(match("GET", "").kind, match_result::not_found);
}

TEST(Router, KnownPathWrongMethodListsAllowed) {
  auto m = match("PUT", "/v1/playbooks/abc");
  ASSERT_EQ(m.kind, match_result::method_not_allowed);
  EXPECT_EQ(m.allow, "DELETE, GET, HEAD, PATCH");
  EXPECT_EQ(match("DELETE", "/healthz").allow, "GET, HEAD");
}

TEST(Router, QueryStrings) {
  std::map<std::string, std::string> q;
  ASSERT_TRUE(parse_query("status=active&limit=10&name=a%20b+c&flag", q));
  EXPECT_EQ(q["status"], "active");
  EXPECT_EQ(q["limit"], "10");
  EXPECT_EQ(q["name"], "a b c");
  EXPECT_EQ(q["flag"], "");
  std::map<std::string, std::string> bad;
  EXPECT_FALSE(parse_query("a=%zz", bad));
  EXPECT_FALSE(parse_query("a=%4", bad));
}

TEST(Router, EveryRouteIsInTheOpenApiDocument) {
  auto doc = nlohmann::json::parse(openapi_json("1.2.3"));
  EXPECT_EQ(doc["openapi"], "3.1.0");
  for (const auto& r : routes()) {
    std::string method = r.method;
    for (auto& c : method)
      c = static_cast<char>(std::tolower(c));
    EXPECT_TRUE(doc["paths"][r.path].contains(method)) << r.method << " " << r.path;
  }
}

TEST(Router, EveryOperationHasExactlyOneRoute) {
  std::map<int, int> seen;
  for (const auto& r : routes())
    ++seen[static_cast<int>(r.handler)];
  for (int op = 0; op <= static_cast<int>(troupe::endpoint::events_ws); ++op)
    EXPECT_EQ(seen[op], 1) << "operation " << op;
  EXPECT_EQ(seen.size(), routes().size());
}
