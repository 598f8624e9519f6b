// Test harness for integration suites: a throwaway Postgres shared by the
// process, in-process troupe nodes on loopback ports, and a small blocking
// HTTP/1.1 client that speaks to them over real sockets.
#pragma once

#include "config/settings.hpp"
#include "runtime/embedded_postgres.hpp"
#include "app/node.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <gtest/gtest.h>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>

namespace troupe::test {

using json = nlohmann::json;

// A fresh directory under /tmp, removed by the destructor.
class temp_dir {
public:
  temp_dir() {
    char tmpl[] = "/tmp/troupe-test-XXXXXX";
    path_ = mkdtemp(tmpl);
    // When the tests run as root, Postgres runs as the postgres user, which
    // must be able to enter the directory.
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all |
                                            std::filesystem::perms::group_exec |
                                            std::filesystem::perms::others_exec);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

// A throwaway Postgres cluster (fsync off).
struct test_database {
  temp_dir dir;
  std::unique_ptr<runtime::embedded_postgres> pg;

  test_database() {
    runtime::embedded_postgres_options o;
    o.data_dir = dir.path();
    o.fsync = false;
    pg = std::make_unique<runtime::embedded_postgres>(o);
    pg->start();
  }
  std::string conninfo() const { return pg->connection_string(); }
};

// The process-wide database, started on first use.
test_database& shared_database();

struct response {
  int status = 0;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
  json doc() const { return json::parse(body, nullptr, false); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// One keep-alive HTTP/1.1 connection.
class http_client {
public:
  explicit http_client(const std::string& address);
  response send(const std::string& method, const std::string& target, const std::string& body = "",
                const std::map<std::string, std::string>& headers = {});
  // Bytes as they are, for framing tests; returns what the server answered.
  std::string raw(const std::string& bytes);

private:
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  std::string host_, port_;
  void connect();
};

// A raw TCP connection for framing tests: bytes exactly as given, and reads
// with a deadline, so a server that neither answers nor closes fails the
// test instead of hanging it.
class raw_connection {
public:
  explicit raw_connection(const std::string& address);
  ~raw_connection();
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  // False once the server has closed or reset the connection.
  bool send(const std::string& bytes);
  // One response (head, and a Content-Length body unless `head_only`), or
  // nothing when the connection ended or `deadline` passed first.
  std::optional<response> read_response(bool head_only = false,
                                        std::chrono::milliseconds deadline = std::chrono::seconds{10});
  // Everything until the server closes; nothing when `deadline` passed first.
  std::optional<std::string> read_until_closed(
      std::chrono::milliseconds deadline = std::chrono::seconds{10});
  // Bytes received but not consumed by read_response.
  const std::string& pending() const { return pending_; }
  void close();

private:
  // Reads what arrives before `until`; false when the connection ended or time ran out.
  bool fill(std::chrono::steady_clock::time_point until);
  int fd_ = -1;
  bool ended_ = false;
  std::string pending_;
};

// A node with its settings, started on construction.
struct test_node {
  temp_dir dir;
  config::settings settings;
  std::unique_ptr<app::node> node;

  explicit test_node(const std::string& conninfo,
                     const std::function<void(config::settings&)>& adjust = {});
  ~test_node();
  const std::string& address() const { return node->address(); }
};

// A test suite whose tests share one node on the shared database, started
// before its first test and stopped after its last. `Suite` may define
// `static void configure(config::settings&)` to adjust the node's settings.
template <class Suite>
class node_suite : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    node_ = new test_node(shared_database().conninfo(), [](config::settings& s) {
      if constexpr (requires { Suite::configure(s); })
        Suite::configure(s);
    });
  }
  static void TearDownTestSuite() {
    delete node_;
    node_ = nullptr;
  }
  static const std::string& address() { return node_->address(); }
  inline static test_node* node_ = nullptr;
};

// A user registered and logged in through the API.
struct user {
  std::string email;
  std::string password;
  std::string access_token;
  std::string refresh_token;
  std::string id;
  std::map<std::string, std::string> auth() const {
    return {{"Authorization", "Bearer " + access_token}};
  }
};

user make_user(const std::string& address);

// A playbook created through the API (201 expected), with `content` as its
// first version when given.
std::string make_playbook(http_client& c, const user& u, int threshold = 1,
                          const std::string& content = "", const std::string& name = "playbook");

// An outcome posted through the API: {task_description: "a task", outcome},
// with `extra` added or replacing, and an Idempotency-Key when `key` is not
// empty. 201 expected, unless `status` is given to receive the status.
json post_outcome(http_client& c, const user& u, const std::string& playbook,
                  const std::string& outcome = "success", const std::string& key = "",
                  json extra = json::object(), int* status = nullptr);

// The first column of the first row of `sql` (0 for NULL), on a connection
// of its own.
long long scalar(const std::string& conninfo, const std::string& sql);

// A playbook created through the API with only a name; the answer's body.
json create_playbook(const std::string& address, const user& u, const std::string& name = "pb");

// An API key of `u` with `scopes`, created through the API.
std::string make_key(const std::string& address, const user& u, const json& scopes);

// The bytes of an HTTP/1.1 request (Host, and Content-Length for a body).
std::string request(const std::string& method, const std::string& target,
                    const std::string& extra_headers = "", const std::string& body = "");

// "Authorization: Bearer <access token>\r\n".
std::string bearer_header(const user& u);

// Headers for a JSON request with a bearer credential.
std::map<std::string, std::string> bearer(const std::string& credential);

// Polls `condition` every 20 ms until it holds or `deadline` passes.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds deadline = std::chrono::seconds{30});

// A new empty database `name` on the shared cluster (dropped first if it
// exists); returns its connection string. For tests whose counts are
// cluster-wide and must not see other suites' rows.
std::string fresh_database(const std::string& name);

// Queues a noop job directly, as a producer inside the database would;
// runnable after `delay_s` (negative: already waiting that long).
std::string enqueue_noop(const std::string& conninfo, const std::string& user_id, json payload,
                         int max_attempts = 3, bool notify = true, int delay_s = 0);

// One sample of a node's /metrics, e.g. `troupe_event_subscribers{transport="ws"}`
// (labels as the exposition writes them); -1 when the series is absent.
double metric(const std::string& address, const std::string& series);

// Row counts of every table, to assert that a refused request changed nothing.
std::map<std::string, long long> table_counts(const std::string& conninfo);

} // namespace troupe::test
