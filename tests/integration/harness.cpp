#include "tests/integration/harness.hpp"

#include "runtime/crypto.hpp"
#include "runtime/log.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sstream>
#include <thread>
#include <unistd.h>
#include <utility>

namespace troupe::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

test_database& shared_database() {
  static test_database db;
  return db;
}

http_client::http_client(const std::string& address) : stream_(ioc_) {
  auto colon = address.rfind(':');
  host_ = address.substr(0, colon);
  port_ = address.substr(colon + 1);
  connect();
}

void http_client::connect() {
  asio::ip::tcp::resolver resolver{ioc_};
  stream_.connect(resolver.resolve(host_, port_));
}

response http_client::send(const std::string& method, const std::string& target,
                           const std::string& body,
                           const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  if (req.method() == http::verb::unknown)
    req.method_string(method);
  req.set(http::field::host, host_);
  bool has_content_type = false;
  for (auto& [k, v] : headers) {
    req.set(k, v);
    has_content_type |= beast::iequals(k, "content-type");
  }
  if (!body.empty() && !has_content_type)
    req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  stream_.expires_after(std::chrono::seconds{60});
  http::write(stream_, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  http::read(stream_, buffer, parser);
  auto& res = parser.get();
  response out;
  out.status = static_cast<int>(res.result_int());
  for (auto& f : res) {
    std::string name{f.name_string()};
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string{f.value()};
  }
  out.body = res.body();
  if (!res.keep_alive()) {
    beast::error_code ec;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    stream_.close();
    connect();
  }
  return out;
}

std::string http_client::raw(const std::string& bytes) {
  stream_.expires_after(std::chrono::seconds{30});
  asio::write(stream_.socket(), asio::buffer(bytes));
  std::string out;
  beast::error_code ec;
  char buf[4096];
  // Read until the server closes the connection (framing errors close it).
  for (;;) {
    auto n = stream_.socket().read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec)
      break;
  }
  stream_.close();
  connect();
  return out;
}

raw_connection::raw_connection(const std::string& address) {
  auto colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    throw std::runtime_error("raw_connection: cannot connect to " + address);
}

raw_connection::~raw_connection() { close(); }

void raw_connection::close() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

bool raw_connection::send(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool raw_connection::fill(std::chrono::steady_clock::time_point until) {
  if (ended_)
    return false;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
  pollfd p{fd_, POLLIN, 0};
  if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
    return false;
  char buf[16384];
  auto n = ::recv(fd_, buf, sizeof buf, 0);
  if (n <= 0) {
    ended_ = true;
    return false;
  }
  pending_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::optional<response> raw_connection::read_response(bool head_only,
                                                      std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  std::size_t end;
  while ((end = pending_.find("\r\n\r\n")) == std::string::npos)
    if (!fill(until))
      return std::nullopt;
  response r;
  auto head = pending_.substr(0, end);
  r.status = std::stoi(head.substr(9, 3));
  std::size_t at = head.find("\r\n");
  while (at != std::string::npos && at < head.size()) {
    auto next = head.find("\r\n", at + 2);
    auto line = head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.erase(0, 1);
      r.headers[name] = value;
    }
    at = next;
  }
  pending_.erase(0, end + 4);
  std::size_t length = 0;
  if (!head_only && r.headers.count("content-length"))
    length = std::stoul(r.headers["content-length"]);
  while (pending_.size() < length)
    if (!fill(until))
      return std::nullopt;
  r.body = pending_.substr(0, length);
  pending_.erase(0, length);
  return r;
}

std::optional<std::string> raw_connection::read_until_closed(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!ended_)
    if (!fill(until) && !ended_)
      return std::nullopt;
  return std::exchange(pending_, {});
}

double metric(const std::string& address, const std::string& series) {
  http_client c{address};
  std::istringstream lines{c.send("GET", "/metrics").body};
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(series + " ", 0) == 0)
      return std::stod(line.substr(series.size() + 1));
  return -1;
}

test_node::test_node(const std::string& conninfo,
                     const std::function<void(config::settings&)>& adjust) {
  log::set_level(log::level::warn);
  settings.database.url = conninfo;
  settings.database.data_dir = dir.path();
  settings.database.pool_size = 4;
  settings.server.listen = "127.0.0.1:0";
  settings.cluster.listen = ""; // in-process nodes publish no cluster actor unless a test asks
  settings.server.io_threads = 2;
  settings.auth.allow_registration = true;
  // Every test user signs up and in from 127.0.0.1: the per-address limit
  // would otherwise count the whole suite as one client. Tests of the limit
  // set their own.
  settings.auth.login_attempts_per_address = 1000000;
  // Load tests send thousands of requests with one key within a minute: the
  // limit stays on (every answer carries its headers) but far away. Tests
  // of the limit set their own.
  settings.rate_limit.requests_per_minute = 10000000;
  if (adjust)
    adjust(settings);
  node = std::make_unique<app::node>(settings);
  node->start();
}

test_node::~test_node() { node->drain(); }

user make_user(const std::string& address) {
  http_client c{address};
  user u;
  u.email = "user-" + crypto::random_hex(6) + "@example.com";
  u.password = "password-" + crypto::random_hex(4);
  json creds = {{"email", u.email}, {"password", u.password}};
  auto reg = c.send("POST", "/v1/auth/register", creds.dump());
  if (reg.status != 201)
    throw std::runtime_error("register failed: " + reg.body);
  u.id = reg.doc()["id"];
  auto login = c.send("POST", "/v1/auth/login", creds.dump());
  if (login.status != 200)
    throw std::runtime_error("login failed: " + login.body);
  u.access_token = login.doc()["access_token"];
  u.refresh_token = login.doc()["refresh_token"];
  return u;
}

std::map<std::string, std::string> bearer(const std::string& credential) {
  return {{"Authorization", "Bearer " + credential}};
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (condition())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{20}); // poll interval
  }
  return condition();
}

std::string fresh_database(const std::string& name) {
  auto base = shared_database().conninfo();
  {
    pqxx::connection admin{base};
    pqxx::nontransaction tx{admin};
    tx.exec("DROP DATABASE IF EXISTS " + name);
    tx.exec("CREATE DATABASE " + name);
  }
  return base.substr(0, base.find("dbname=")) + "dbname=" + name;
}

std::string enqueue_noop(const std::string& conninfo, const std::string& user_id, json payload,
                         int max_attempts, bool notify, int delay_s) {
  auto id = crypto::uuid_v7();
  pqxx::connection conn{conninfo};
  pqxx::work tx{conn};
  tx.exec_params("INSERT INTO jobs (id, kind, user_id, max_attempts, payload, run_after)"
                 " VALUES ($1, 'noop', $2, $3, $4::jsonb, now() + make_interval(secs => $5))",
                 id, user_id, max_attempts, payload.dump(), delay_s);
  if (notify)
    tx.exec("SELECT pg_notify('troupe_jobs', 'noop')");
  tx.commit();
  return id;
}

std::map<std::string, long long> table_counts(const std::string& conninfo) {
  pqxx::connection conn{conninfo};
  pqxx::read_transaction tx{conn};
  std::map<std::string, long long> out;
  for (auto t : {"users", "api_keys", "refresh_tokens", "playbooks", "playbook_versions",
                 "outcomes", "jobs", "events"})
    out[t] = tx.exec(std::string{"SELECT count(*) FROM "} + t)[0][0].as<long long>();
  // Content of mutable rows matters too: a refused PATCH must not touch them.
  out["playbooks_updated"] =
      tx.exec("SELECT coalesce(sum(extract(epoch FROM updated_at) * 1000)::bigint, 0)"
              " FROM playbooks")[0][0]
          .as<long long>();
  out["api_keys_revoked"] =
      tx.exec("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL")[0][0].as<long long>();
  return out;
}

std::string make_playbook(http_client& c, const user& u, int threshold, const std::string& content,
                          const std::string& name) {
  json body = {{"name", name}, {"evolution_threshold", threshold}};
  if (!content.empty())
    body["content"] = content;
  auto r = c.send("POST", "/v1/playbooks", body.dump(), u.auth());
  EXPECT_EQ(r.status, 201) << r.body;
  return r.doc().value("id", "");
}

json post_outcome(http_client& c, const user& u, const std::string& playbook,
                  const std::string& outcome, const std::string& key, json extra, int* status) {
  json body = {{"task_description", "a task"}, {"outcome", outcome}};
  for (auto& [k, v] : extra.items())
    body[k] = v;
  auto headers = u.auth();
  if (!key.empty())
    headers["Idempotency-Key"] = key;
  auto r = c.send("POST", "/v1/playbooks/" + playbook + "/outcomes", body.dump(), headers);
  if (status)
    *status = r.status;
  else
    EXPECT_EQ(r.status, 201) << r.body;
  return r.doc();
}

long long scalar(const std::string& conninfo, const std::string& sql) {
  pqxx::connection conn{conninfo};
  pqxx::read_transaction tx{conn};
  auto r = tx.exec(sql);
  return r[0][0].is_null() ? 0 : r[0][0].as<long long>();
}

json create_playbook(const std::string& address, const user& u, const std::string& name) {
  http_client c{address};
  auto r = c.send("POST", "/v1/playbooks", json{{"name", name}}.dump(), u.auth());
  EXPECT_EQ(r.status, 201) << r.body;
  return r.doc();
}

std::string make_key(const std::string& address, const user& u, const json& scopes) {
  http_client c{address};
  auto r = c.send("POST", "/v1/auth/api-keys", json{{"name", "k"}, {"scopes", scopes}}.dump(),
                  u.auth());
  EXPECT_EQ(r.status, 201) << r.body;
  return r.doc().value("key", "");
}

std::string request(const std::string& method, const std::string& target,
                    const std::string& extra_headers, const std::string& body) {
  return method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + extra_headers +
         (body.empty() ? "" : "Content-Length: " + std::to_string(body.size()) + "\r\n") +
         "\r\n" + body;
}

std::string bearer_header(const user& u) { return "Authorization: Bearer " + u.access_token + "\r\n"; }

} // namespace troupe::test
