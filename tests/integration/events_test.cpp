// Event streams through the real gateway: a WebSocket client (Boost.Beast)
// and a Server-Sent Events client on raw sockets, against a node whose
// events come from real domain transactions.
#include "tests/integration/harness.hpp"

#include <boost/beast/websocket.hpp>
#include <algorithm>
#include <gtest/gtest.h>
#include <sys/socket.h>

using namespace troupe;
using namespace troupe::test;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct event {
  long long id = 0;
  std::string topic;
  json data;
};

std::pair<std::string, std::string> host_port(const std::string& address) {
  auto colon = address.rfind(':');
  return {address.substr(0, colon), address.substr(colon + 1)};
}

void receive_timeout(tcp::socket& s, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// Up to n events from a client, fewer when its stream ends or stays silent.
template <class Client>
std::vector<event> take_from(Client& c, std::size_t n) {
  std::vector<event> out;
  while (out.size() < n)
    if (auto e = c.next())
      out.push_back(std::move(*e));
    else
      break;
  return out;
}

// A WebSocket subscriber; reads block at most `timeout` each.
class ws_client {
public:
  ws_client(const std::string& address, const std::string& token, const std::string& query = "",
            int receive_buffer = 0)
      : ws_(ioc_) {
    auto [host, port] = host_port(address);
    tcp::resolver resolver{ioc_};
    auto& socket = ws_.next_layer();
    socket.open(tcp::v4());
    if (receive_buffer)
      socket.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
    asio::connect(socket, resolver.resolve(host, port));
    receive_timeout(socket, 10s);
    ws_.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
      req.set(beast::http::field::authorization, "Bearer " + token);
    }));
    ws_.handshake(host, "/v1/events/ws" + query);
  }

  // The next event, or nothing when the connection ended or stayed silent.
  std::optional<event> next() {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws_.read(buffer, ec);
    if (ec)
      return std::nullopt;
    auto j = json::parse(beast::buffers_to_string(buffer.data()));
    return event{j["id"].get<long long>(), j["topic"], j["data"]};
  }

  std::vector<event> take(std::size_t n) { return take_from(*this, n); }

private:
  asio::io_context ioc_;
  websocket::stream<tcp::socket> ws_;
};

// A Server-Sent Events subscriber on a raw socket.
class sse_client {
public:
  sse_client(const std::string& address, const std::string& token, const std::string& query = "",
             const std::string& last_event_id = "")
      : socket_(ioc_) {
    auto [host, port] = host_port(address);
    tcp::resolver resolver{ioc_};
    asio::connect(socket_, resolver.resolve(host, port));
    receive_timeout(socket_, 10s);
    std::string req = "GET /v1/events" + query + " HTTP/1.1\r\nHost: " + host +
                      "\r\nAccept: text/event-stream\r\nAuthorization: Bearer " + token + "\r\n";
    if (!last_event_id.empty())
      req += "Last-Event-ID: " + last_event_id + "\r\n";
    asio::write(socket_, asio::buffer(req + "\r\n"));
    auto head = until("\r\n\r\n");
    status_line = head.substr(0, head.find("\r\n"));
    headers = head;
  }

  std::optional<event> next() {
    for (;;) {
      auto block = until("\n\n");
      if (block.empty())
        return std::nullopt;
      if (block[0] == ':')
        continue; // a comment: subscribed, heartbeat
      event e;
      std::size_t at = 0;
      while (at < block.size()) {
        auto end = block.find('\n', at);
        auto line = block.substr(at, end - at);
        at = end == std::string::npos ? block.size() : end + 1;
        if (line.rfind("id: ", 0) == 0)
          e.id = std::stoll(line.substr(4));
        else if (line.rfind("event: ", 0) == 0)
          e.topic = line.substr(7);
        else if (line.rfind("data: ", 0) == 0)
          e.data = json::parse(line.substr(6))["data"];
      }
      return e;
    }
  }

  std::vector<event> take(std::size_t n) { return take_from(*this, n); }

  // How long one read waits (a read that times out leaves the stream usable).
  void timeout(std::chrono::milliseconds t) { receive_timeout(socket_, t); }

  std::string status_line;
  std::string headers;

private:
  // Bytes up to and including `delimiter`; "" when the connection ended.
  std::string until(const std::string& delimiter) {
    for (;;) {
      auto pos = pending_.find(delimiter);
      if (pos != std::string::npos) {
        auto out = pending_.substr(0, pos + delimiter.size());
        pending_.erase(0, pos + delimiter.size());
        return out;
      }
      // recv() itself, since asio's blocking reads ignore SO_RCVTIMEO.
      char buf[8192];
      auto n = ::recv(socket_.native_handle(), buf, sizeof buf, 0);
      if (n <= 0)
        return "";
      pending_.append(buf, static_cast<std::size_t>(n));
    }
  }

  asio::io_context ioc_;
  tcp::socket socket_;
  std::string pending_;
};

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

std::string make_playbook(http_client& c, const user& u) {
  json body = {{"name", "events"}, {"evolution_threshold", 1}};
  auto r = c.send("POST", "/v1/playbooks", body.dump(), u.auth());
  EXPECT_EQ(r.status, 201) << r.body;
  return r.doc()["id"];
}

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

// The events of one evolution: what both kinds of stream deliver, in order.
const std::vector<std::string> evolution_topics = {
    "evolution.queued", "outcome.recorded", "job.started",   "job.progress", "job.progress",
    "job.progress",     "job.completed",    "playbook.version_created"};

TEST_F(Events, WebSocketAndSseDeliverAnEvolutionInOrder) {
  auto u = make_user(address());
  http_client c{address()};
  auto pb = make_playbook(c, u);
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
  auto first = make_playbook(c, u);
  auto second = make_playbook(c, u);
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
  auto a_playbook = make_playbook(c, a);
  fail_with_lesson(c, a, a_playbook);
  // Then one event of B's own; it must be the first thing B sees.
  auto b_playbook = make_playbook(c, b);
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
  auto pb = make_playbook(c, u);
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
  // is delivered past it yet (several polls pass meanwhile).
  sse.timeout(500ms);
  EXPECT_FALSE(sse.next());
  // Committing it releases both, in id order.
  held.commit();
  sse.timeout(10s);
  auto got = sse.take(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].data["n"], 1);
  EXPECT_EQ(got[1].data["n"], 2);
}

TEST_F(Events, ASubscriberThatStopsReadingIsDisconnectedWhileOthersKeepUp) {
  auto u = make_user(address());
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
  // The stalled one gets what its socket buffers held, then the end.
  std::size_t buffered = 0;
  while (stalled.next())
    ++buffered;
  EXPECT_LT(buffered, static_cast<std::size_t>(n));
  // And the node serves on.
  http_client c{address()};
  EXPECT_EQ(c.send("GET", "/healthz").status, 200);
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
}

} // namespace
