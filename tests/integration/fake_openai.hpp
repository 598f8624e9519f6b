// A local HTTP server that speaks the OpenAI chat-completions protocol, for
// tests of the LLM adapter and the llm engine. It answers from a per-test
// script of canned behaviours, then from a responder function, then with a
// fallback; it records every request and how many were open at once.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

namespace troupe::test {

namespace fake_openai_detail {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
} // namespace fake_openai_detail
using namespace fake_openai_detail;
using namespace std::chrono_literals;

struct behaviour {
  unsigned status = 200;
  std::string body;
  std::optional<std::string> retry_after;
  milliseconds delay{0}; // before answering; cut short when the server stops
  // Also hold the answer until this many requests have been open at once (or a
  // second passes), so a concurrency test does not depend on lucky timing.
  int hold_until_in_flight = 0;
};

inline behaviour ok(const std::string& content, std::int64_t prompt_tokens = 0,
             std::int64_t completion_tokens = 0) {
  const json body = {{"id", "chatcmpl-1"},
                     {"object", "chat.completion"},
                     {"model", "fake-model"},
                     {"choices",
                      {{{"index", 0},
                        {"message", {{"role", "assistant"}, {"content", content}}},
                        {"finish_reason", "stop"}}}},
                     {"usage",
                      {{"prompt_tokens", prompt_tokens},
                       {"completion_tokens", completion_tokens},
                       {"total_tokens", prompt_tokens + completion_tokens}}}};
  return {200, body.dump(), std::nullopt};
}

inline behaviour status(unsigned code, std::string body = R"({"error":{"message":"scripted"}})",
                 std::optional<std::string> retry_after = std::nullopt) {
  return {code, std::move(body), std::move(retry_after)};
}

inline behaviour not_json() {
  return {200, "not json", std::nullopt};
}

inline behaviour no_choices() {
  return {200, R"({"id":"x","object":"chat.completion"})", std::nullopt};
}

inline behaviour slow(milliseconds delay, behaviour then) {
  then.delay = delay;
  return then;
}

struct recorded_request {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers; // names lower-cased
  std::string body;
};

inline std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class fake_openai {
public:
  fake_openai() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~fake_openai() { stop(); }
  fake_openai(const fake_openai&) = delete;
  fake_openai& operator=(const fake_openai&) = delete;

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

  void push(behaviour b) {
    const std::lock_guard lock(mutex_);
    script_.push_back(std::move(b));
  }

  // Answers requests once the script is spent; nullopt passes to otherwise().
  // Runs on the server's session threads, possibly several at once.
  void respond_with(std::function<std::optional<behaviour>(const recorded_request&)> f) {
    const std::lock_guard lock(mutex_);
    responder_ = std::move(f);
  }

  // What to do once the script is spent.
  void otherwise(behaviour b) {
    const std::lock_guard lock(mutex_);
    fallback_ = std::move(b);
  }

  std::vector<recorded_request> requests() const {
    const std::lock_guard lock(mutex_);
    return requests_;
  }

  int max_in_flight() const {
    const std::lock_guard lock(mutex_);
    return max_in_flight_;
  }

private:
  void stop() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
      // Unblocks sessions still reading from a client that has not hung up.
      for (const int fd : open_fds_)
        ::shutdown(fd, SHUT_RDWR);
    }
    changed_.notify_all(); // cuts slow handlers short
    // A synchronous accept() cannot be cancelled: a connection of our own wakes it.
    tcp::socket poke(io_);
    beast::error_code ec;
    poke.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    accept_thread_.join();
    for (std::thread& t : sessions_) // the accept thread, their only writer, is gone
      t.join();
  }

  void accept_loop() {
    for (;;) {
      tcp::socket socket(io_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      const std::lock_guard lock(mutex_);
      if (stopping_)
        return;
      if (ec)
        continue;
      open_fds_.insert(socket.native_handle());
      // A thread per connection, so slow answers never hold up the next request.
      sessions_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
    }
  }

  void serve(tcp::socket socket) {
    const int fd = socket.native_handle();
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    beast::error_code ec;
    http::read(socket, buffer, req, ec);
    if (!ec)
      answer(socket, req);
    // Closed under the lock so stop() never shuts down a reused descriptor.
    const std::lock_guard lock(mutex_);
    open_fds_.erase(fd);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  void answer(tcp::socket& socket, const http::request<http::string_body>& req) {
    const behaviour b = admit(req);
    http::response<http::string_body> res;
    res.version(11);
    res.result(b.status);
    res.set(http::field::content_type, "application/json");
    if (b.retry_after)
      res.set(http::field::retry_after, *b.retry_after);
    res.keep_alive(false);
    res.body() = b.body;
    res.prepare_payload();
    beast::error_code ec;
    http::write(socket, res, ec); // fails harmlessly when the client already gave up
  }

  // Records the request, picks its behaviour and waits as that behaviour says.
  behaviour admit(const http::request<http::string_body>& req) {
    std::unique_lock lock(mutex_);
    requests_.push_back(record(req));
    std::optional<behaviour> picked;
    if (!script_.empty()) {
      picked = script_.front();
      script_.pop_front();
    } else if (responder_) {
      auto responder = responder_;
      const auto request = requests_.back();
      lock.unlock(); // the responder may take its time; others keep arriving
      picked = responder(request);
      lock.lock();
    }
    behaviour b = picked ? *picked : fallback_;
    max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
    changed_.notify_all();
    const auto arrived = steady::now();
    changed_.wait_until(lock, arrived + b.delay, [this] { return stopping_; });
    changed_.wait_until(lock, arrived + 1s,
                        [&] { return stopping_ || max_in_flight_ >= b.hold_until_in_flight; });
    // Counted out before the answer is written: the client's slot outlives this.
    --in_flight_;
    return b;
  }

  static recorded_request record(const http::request<http::string_body>& req) {
    recorded_request r{std::string(req.method_string()), std::string(req.target()), {}, req.body()};
    for (const auto& field : req)
      r.headers[lower_ascii({field.name_string().data(), field.name_string().size()})] =
          std::string(field.value());
    return r;
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread accept_thread_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::set<int> open_fds_;
  std::vector<std::thread> sessions_;
  std::deque<behaviour> script_;
  std::function<std::optional<behaviour>(const recorded_request&)> responder_;
  behaviour fallback_ = status(500, R"({"error":{"message":"script exhausted"}})");
  std::vector<recorded_request> requests_;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
};

// A port nothing listens on: bound, then closed again.
inline unsigned short closed_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}


} // namespace troupe::test
