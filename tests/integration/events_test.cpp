// Event streams through the real gateway: a WebSocket client (Boost.Beast)
// and a Server-Sent Events client on raw sockets, against a node whose
// events come from real domain transactions.
#include "tests/integration/stream_clients.hpp"

#include <algorithm>
#include <thread>
#include <gtest/gtest.h>

using namespace troupe;
using namespace troupe::test;

namespace {

class Events : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    node_ = new test_node(shared_database().conninfo(), [](config::settings& s) {
      s.jobs.poll_interval_ms = 100;
      s.events.poll_interval_ms = 50;
      s.events.subscriber_buffer = 1000;
      s.events.stall_timeout_ms = 1000;
    });
  }
  static void TearDownTestSuite() {
    delete node_;
    node_ = nullptr;
  }
  const std::string& address() { return node_->address(); }
  static test_node* node_;
};

test_node* Events::node_ = nullptr;

std::string fail_with_lesson(http_client& c, const user& u, const std::string& playbook) {
  json body = {{"task_description", "t"},
               {"outcome", "failure"},
               {"notes", "Lesson: check the timezone before grouping by day."}};
  auto r = c.send("POST", "/v1/playbooks/" + playbook + "/outcomes", body.dump(), u.auth());
  EXPECT_EQ(r.status, 201) << r.body;
  return r.doc()["evolution"]["job_id"];
}

std::vector<std::string> topics_of(const std::vector<event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events)
    out.push_back(e.topic);
  return out;
}

void exec(const std::string& sql) {
  pqxx::connection conn{shared_database().conninfo()};
  pqxx::work tx{conn};
  tx.exec(sql);
  tx.commit();
}

// The event bridge's counters at a point of a test (the test process's
// metrics, shared by every node it runs).
struct bridge_counters {
  std::string address;
  double waits = metric(address, "troupe_event_gap_waits_total");
  double delivered = metric(address, "troupe_events_delivered_total{transport=\"sse\"}");

  // The bridge waits at a gap `passes` more times and delivers nothing meanwhile.
  void expect_held_back(int passes) const {
    ASSERT_TRUE(eventually(
        [&] { return metric(address, "troupe_event_gap_waits_total") >= waits + passes; }));
    EXPECT_EQ(metric(address, "troupe_events_delivered_total{transport=\"sse\"}"), delivered);
  }
};

// Committing the transaction that held n = 1 back releases n = 1, then n = 2.
void expect_released_in_order(pqxx::work& held, sse_client& sse) {
  held.commit();
  sse.timeout(10s);
  auto got = sse.take(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].data["n"], 1);
  EXPECT_EQ(got[1].data["n"], 2);
}

// The events of one evolution: what both kinds of stream deliver, in order.
const std::vector<std::string> evolution_topics = {
    "evolution.queued", "outcome.recorded", "job.started",   "job.progress", "job.progress",
    "job.progress",     "job.completed",    "playbook.version_created"};

TEST_F(Events, WebSocketAndSseDeliverAnEvolutionInOrder) {
  auto u = make_user(address());
  http_client c{address()};
  auto pb = make_playbook(c, u, 1);
  ws_client ws{address(), u.access_token};
  sse_client sse{address(), u.access_token};
  EXPECT_EQ(sse.status_line, "HTTP/1.1 200 OK");
  EXPECT_NE(sse.headers.find("Content-Type: text/event-stream"), std::string::npos);
  auto job = fail_with_lesson(c, u, pb);
  auto from_ws = ws.take(evolution_topics.size());
  auto from_sse = sse.take(evolution_topics.size());
  EXPECT_EQ(topics_of(from_ws), evolution_topics);
  EXPECT_EQ(topics_of(from_sse), evolution_topics);
  for (std::size_t i = 0; i < from_ws.size() && i < from_sse.size(); ++i) {
    EXPECT_EQ(from_ws[i].id, from_sse[i].id);
    if (i) {
      EXPECT_GT(from_ws[i].id, from_ws[i - 1].id);
    }
  }
  ASSERT_EQ(from_ws.size(), evolution_topics.size());
  EXPECT_EQ(from_ws.back().data["playbook_id"], pb);
  EXPECT_EQ(from_ws.back().data["job_id"], job);
  EXPECT_EQ(from_ws.back().data["version"], 1);
}

TEST_F(Events, FiltersDeliverOnlyWhatWasAsked) {
  auto u = make_user(address());
  http_client c{address()};
  auto first = make_playbook(c, u, 1);
  auto second = make_playbook(c, u, 1);
  ws_client versions{address(), u.access_token,
                     "?topics=playbook.version_created&playbook_id=" + second};
  sse_client outcomes{address(), u.access_token, "?topics=outcome.recorded,job.completed"};
  fail_with_lesson(c, u, first);
  auto job = fail_with_lesson(c, u, second);
  ws_client by_job{address(), u.access_token, "?after=0&job_id=" + job};

  auto v = versions.next();
  ASSERT_TRUE(v);
  EXPECT_EQ(v->topic, "playbook.version_created");
  EXPECT_EQ(v->data["playbook_id"], second);
  auto o = topics_of(outcomes.take(4));
  std::sort(o.begin(), o.end()); // the two jobs interleave as they like
  EXPECT_EQ(o, (std::vector<std::string>{"job.completed", "job.completed", "outcome.recorded",
                                         "outcome.recorded"}));
  // Replayed from the log: every event of that job, and only those.
  auto j = by_job.take(7);
  ASSERT_EQ(j.size(), 7u);
  for (const auto& e : j)
    EXPECT_EQ(e.data["job_id"], job) << e.topic;
  EXPECT_EQ(j.front().topic, "evolution.queued");
  EXPECT_EQ(j.back().topic, "playbook.version_created");
}

TEST_F(Events, AUserNeverReceivesAnotherUsersEvents) {
  auto a = make_user(address());
  auto b = make_user(address());
  http_client c{address()};
  ws_client b_stream{address(), b.access_token, "?after=0"};
  auto a_playbook = make_playbook(c, a, 1);
  fail_with_lesson(c, a, a_playbook);
  // Then one event of B's own; it must be the first thing B sees.
  auto b_playbook = make_playbook(c, b, 1);
  json body = {{"task_description", "t"}, {"outcome", "success"}};
  ASSERT_EQ(c.send("POST", "/v1/playbooks/" + b_playbook + "/outcomes", body.dump(), b.auth()).status,
            201);
  // B's outcome queues an evolution in the same transaction: those two come first.
  auto first = b_stream.take(2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(topics_of(first), (std::vector<std::string>{"evolution.queued", "outcome.recorded"}));
  for (const auto& e : first)
    EXPECT_EQ(e.data["playbook_id"], b_playbook);
  // A's events also stay away from filters naming A's playbook.
  sse_client peek{address(), b.access_token, "?after=0&playbook_id=" + a_playbook};
  exec("INSERT INTO events (user_id, topic, playbook_id) VALUES ('" + b.id +
       "', 'job.progress', '" + a_playbook + "')"); // a marker B owns
  auto e = peek.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->topic, "job.progress");
}

TEST_F(Events, AReconnectWithTheLastIdReceivesExactlyWhatWasMissed) {
  auto u = make_user(address());
  http_client c{address()};
  auto pb = make_playbook(c, u, 1);
  long long last = 0;
  {
    sse_client first{address(), u.access_token};
    fail_with_lesson(c, u, pb);
    auto seen = first.take(evolution_topics.size());
    ASSERT_EQ(seen.size(), evolution_topics.size());
    last = seen[2].id; // the client got three and went away
  }
  fail_with_lesson(c, u, pb); // while disconnected
  long long newest = 0;
  std::vector<long long> expected;
  {
    pqxx::connection conn{shared_database().conninfo()};
    pqxx::read_transaction tx{conn};
    for (const auto& r : tx.exec_params("SELECT id FROM events WHERE user_id = $1 AND id > $2"
                                        " ORDER BY id",
                                        u.id, last))
      expected.push_back(r[0].as<long long>());
  }
  ASSERT_FALSE(expected.empty());
  newest = expected.back();
  for (bool websocket_client : {false, true}) {
    std::vector<long long> got;
    if (websocket_client) {
      ws_client again{address(), u.access_token, "?after=" + std::to_string(last)};
      for (const auto& e : again.take(expected.size()))
        got.push_back(e.id);
    } else {
      sse_client again{address(), u.access_token, "", std::to_string(last)};
      for (const auto& e : again.take(expected.size()))
        got.push_back(e.id);
    }
    EXPECT_EQ(got, expected) << (websocket_client ? "WebSocket" : "SSE");
  }
  EXPECT_GT(newest, last);
}

TEST_F(Events, AGapIsWaitedForAndARolledBackOneIsSkipped) {
  auto u = make_user(address());
  sse_client sse{address(), u.access_token};
  pqxx::connection slow{shared_database().conninfo()};
  pqxx::work held{slow};
  held.exec_params("INSERT INTO events (user_id, topic, data) VALUES ($1, 'job.progress',"
                   " '{\"n\": 1}') RETURNING id",
                   u.id);
  {
    pqxx::connection conn{shared_database().conninfo()};
    pqxx::work doomed{conn};
    doomed.exec_params("INSERT INTO events (user_id, topic, data) VALUES ($1, 'job.progress',"
                       " '{\"n\": 99}')",
                       u.id);
    doomed.abort();
  }
  exec("INSERT INTO events (user_id, topic, data) VALUES ('" + u.id +
       "', 'job.progress', '{\"n\": 2}')");
  // n = 2 is committed, but n = 1 (a smaller id) may still commit: nothing
  // is delivered past it while the bridge reads n = 2 and holds it back
  // (each such pass counts a gap wait) several times.
  bridge_counters{address()}.expect_held_back(3);
  // Committing it releases both, in id order.
  expect_released_in_order(held, sse);
}

// A snapshot's xmax is one past the newest transaction that ended, not the
// next transaction id: a transaction that got its xid after another but
// took its event id first is invisible to the bridge's snapshots without
// being below their xmax. Its event is still waited for, not skipped once
// the other one committed.
TEST_F(Events, AnEarlierIdOfATransactionWithALaterXidIsWaitedFor) {
  auto u = make_user(address());
  sse_client sse{address(), u.access_token};
  pqxx::connection first_xid{shared_database().conninfo()}, later_xid{shared_database().conninfo()};
  pqxx::work b{first_xid};
  b.exec("SELECT pg_current_xact_id()");
  pqxx::work a{later_xid};
  a.exec("SELECT pg_current_xact_id()");
  auto insert = "INSERT INTO events (user_id, topic, data) VALUES ($1, 'job.progress',"
                " jsonb_build_object('n', $2::int))";
  a.exec_params(insert, u.id, 1); // the smaller id
  b.exec_params(insert, u.id, 2);
  b.commit();
  bridge_counters{address()}.expect_held_back(5);
  expect_released_in_order(a, sse);
}

// A node nobody subscribed to reads nothing; its first subscriber resumes
// with ?after= while a transaction that took a smaller id than the newest
// event is still open. The subscriber waits for that event instead of
// reading the log past it.
TEST_F(Events, AResumeOnAnIdleNodeWaitsForAnEventThatCommitsLate) {
  auto u = make_user(address());
  auto after = scalar(shared_database().conninfo(), "SELECT coalesce(max(id), 0) FROM events");
  pqxx::connection slow{shared_database().conninfo()};
  pqxx::work held{slow};
  held.exec("SELECT pg_current_xact_id()"); // as every writer of events does
  held.exec_params("INSERT INTO events (user_id, topic, data) VALUES ($1, 'job.progress',"
                   " '{\"n\": 1}')",
                   u.id);
  exec("INSERT INTO events (user_id, topic, data) VALUES ('" + u.id +
       "', 'job.progress', '{\"n\": 2}')");
  test_node idle{shared_database().conninfo(),
                 [](config::settings& s) { s.events.poll_interval_ms = 50; }};
  bridge_counters before{idle.address()};
  sse_client sse{idle.address(), u.access_token, "?after=" + std::to_string(after)};
  before.expect_held_back(3);
  expect_released_in_order(held, sse);
}

TEST_F(Events, ASubscriberThatStopsReadingIsDisconnectedWhileOthersKeepUp) {
  auto u = make_user(address());
  auto dropped = [&] {
    return metric(address(), "troupe_event_subscriber_drops_total{reason=\"stalled\"}") +
           metric(address(), "troupe_event_subscriber_drops_total{reason=\"overflow\"}");
  };
  auto dropped_before = dropped();
  ws_client stalled{address(), u.access_token, "", 4096};
  ws_client reader{address(), u.access_token};
  const int n = 20000;
  auto started = std::chrono::steady_clock::now();
  exec("INSERT INTO events (user_id, topic, data) SELECT '" + u.id +
       "', 'job.progress', jsonb_build_object('n', g, 'pad', repeat('x', 200))"
       " FROM generate_series(1, " + std::to_string(n) + ") g");
  auto got = reader.take(n);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(got[static_cast<std::size_t>(i)].data["n"], i + 1);
  EXPECT_LT(took, 20s);
  // The stalled one is dropped (the reader may finish before its stall
  // timeout: wait for the drop, not for time), then gets what its socket
  // buffers held, then the end.
  ASSERT_TRUE(eventually([&] { return dropped() > dropped_before; }));
  std::size_t buffered = 0;
  while (stalled.next())
    ++buffered;
  EXPECT_LT(buffered, static_cast<std::size_t>(n));
  // And the node serves on.
  http_client c{address()};
  EXPECT_EQ(c.send("GET", "/healthz").status, 200);
}

// A WebSocket's events go out framed many to a socket write
// (gateway/coalescing_stream.hpp); the pongs the server owes for a client's
// pings go out between them, whole and in order.
TEST_F(Events, PingsDuringABurstAreAnsweredBetweenWholeEvents) {
  auto u = make_user(address());
  ws_client ws{address(), u.access_token};
  const int n = 20000;
  exec("INSERT INTO events (user_id, topic, data) SELECT '" + u.id +
       "', 'job.progress', jsonb_build_object('n', g, 'pad', repeat('x', 300))"
       " FROM generate_series(1, " + std::to_string(n) + ") g");
  std::vector<std::string> sent;
  for (int i = 1; i <= n; ++i) {
    auto e = ws.next();
    ASSERT_TRUE(e) << "event " << i;
    ASSERT_EQ(e->data["n"], i);
    if (i % 2000 == 1) { // pings while most of the burst is still on its way
      sent.push_back("p" + std::to_string(i));
      ASSERT_FALSE(ws.send_ping(sent.back()));
    }
  }
  // The last pongs may still be on their way after the last event: reading
  // one more event at a time (pongs are seen while reading) until they came.
  for (int more = 0; ws.pongs().size() < sent.size() && more < 20; ++more) {
    exec("INSERT INTO events (user_id, topic, data) VALUES ('" + u.id +
         "', 'job.progress', '{\"n\": 0}')");
    auto e = ws.next();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->data["n"], 0);
  }
  EXPECT_EQ(ws.pongs(), sent);
}

TEST_F(Events, BadSubscriptionsAreRefusedClearly) {
  auto u = make_user(address());
  http_client c{address()};
  auto bad = [&](const std::string& target) {
    auto r = c.send("GET", target, "", u.auth());
    EXPECT_EQ(r.status, 400) << target << " " << r.body;
    return r.doc()["error"]["message"].get<std::string>();
  };
  EXPECT_EQ(bad("/v1/events?topics=job.done"), "unknown topic \"job.done\"");
  EXPECT_EQ(bad("/v1/events?playbook_id=42"), "playbook_id must be a UUID");
  EXPECT_EQ(bad("/v1/events?after=-3"), "after (or Last-Event-ID) must be a non-negative event id");
  EXPECT_EQ(bad("/v1/events?colour=red"),
            "unknown query parameter colour (use topics, playbook_id, job_id, after)");
  EXPECT_EQ(c.send("GET", "/v1/events/ws", "", u.auth()).status, 426);
  EXPECT_EQ(c.send("GET", "/v1/events").status, 401);
  EXPECT_EQ(c.send("GET", "/v1/events?access_token=tr_nope").status, 401);
  // access_token is for the event streams only.
  EXPECT_EQ(c.send("GET", "/v1/playbooks?access_token=" + u.access_token).status, 401);
}

// What a browser does: no Authorization header, the token in the query.
TEST_F(Events, ABrowserStyleClientAuthenticatesWithAnAccessTokenInTheQuery) {
  auto u = make_user(address());
  http_client c{address()};
  auto pb = make_playbook(c, u, 1);
  ws_client ws{address(), "", "?access_token=" + u.access_token + "&playbook_id=" + pb};
  sse_client sse{address(), "", "?access_token=" + u.access_token + "&playbook_id=" + pb};
  EXPECT_EQ(sse.status_line, "HTTP/1.1 200 OK");
  fail_with_lesson(c, u, pb);
  EXPECT_EQ(topics_of(ws.take(evolution_topics.size())), evolution_topics);
  EXPECT_EQ(topics_of(sse.take(evolution_topics.size())), evolution_topics);
}

// An idle stream still hears from the server: an SSE comment and a
// WebSocket ping every events.heartbeat_s.
TEST(EventHeartbeats, AnIdleStreamGetsAHeartbeat) {
  test_node node{shared_database().conninfo(), [](config::settings& s) {
                   s.events.heartbeat_s = 1;
                   s.jobs.run_jobs = false;
                 }};
  auto u = make_user(node.address());
  sse_client sse{node.address(), u.access_token};
  EXPECT_EQ(sse.next_comment(), ": subscribed\n\n");
  EXPECT_EQ(sse.next_comment(), ": ping\n\n");

  http_client c{node.address()};
  auto created = c.send("POST", "/v1/playbooks", R"({"name":"hb"})", u.auth());
  ASSERT_EQ(created.status, 201) << created.body;
  ws_client ws{node.address(), u.access_token};
  // next() blocks until a message arrives; pings are answered while it reads.
  std::optional<event> first;
  std::thread reader{[&] { first = ws.next(); }};
  bool pinged = eventually([&] { return ws.pings() >= 1; }, 10s);
  // An event lets the blocked read return.
  auto posted = c.send("POST", "/v1/playbooks/" + created.doc()["id"].get<std::string>() +
                                   "/outcomes",
                       R"({"task_description":"t","outcome":"success"})", u.auth());
  EXPECT_EQ(posted.status, 201) << posted.body;
  reader.join();
  EXPECT_TRUE(pinged);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->topic, "outcome.recorded");
}

} // namespace
