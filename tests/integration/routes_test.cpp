// Every route of the routing table reaches the handler its row names: called
// as a signed-in user with a minimal request, no route answers 500 (what a
// domain actor answers for an operation it has no handler for), 405, or the
// router's own 404.
#include "gateway/router.hpp"
#include "runtime/crypto.hpp"
#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace troupe::test;

namespace {

class Routes : public node_suite<Routes> {};

// The route's template with its parameters filled in: ids with a fresh
// UUID (nothing has it, so the handler answers 404), version numbers with 1.
std::string path_of(const gateway::route& r) {
  std::string out;
  std::size_t i = 0;
  while (i < r.path.size()) {
    if (r.path[i] == '{') {
      auto end = r.path.find('}', i);
      auto name = r.path.substr(i + 1, end - i - 1);
      out += name == "n" ? "1" : crypto::uuid_v7();
      i = end + 1;
    } else {
      out += r.path[i++];
    }
  }
  return out;
}

} // namespace

TEST_F(Routes, EveryRouteReachesItsHandler) {
  auto u = make_user(address());
  http_client client{address()};
  int checked = 0;
  for (const auto& r : gateway::routes()) {
    if (r.target == gateway::service::events)
      continue; // streams: the gateway's own, shown in events_test.cpp
    auto path = path_of(r);
    auto headers = u.auth();
    headers["Content-Type"] = "application/json";
    auto res = client.send(r.method, path, r.takes_body ? "{}" : "", headers);
    SCOPED_TRACE(r.method + " " + path + " → " + std::to_string(res.status) + " " + res.body);
    EXPECT_NE(res.status, 500);
    EXPECT_NE(res.status, 405);
    EXPECT_GE(res.status, 200);
    if (res.status == 404) {
      EXPECT_EQ(res.body.find("no route for"), std::string::npos);
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(gateway::routes().size()) - 2); // all but the two streams
}
