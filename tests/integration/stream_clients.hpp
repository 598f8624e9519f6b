// Event stream clients for tests: a WebSocket subscriber (Boost.Beast) and a
// Server-Sent Events subscriber on a raw socket, both speaking to a real
// gateway over loopback.
#pragma once

#include "tests/integration/harness.hpp"

#include <boost/beast/websocket.hpp>
#include <atomic>
#include <optional>
#include <sys/socket.h>

namespace troupe::test {

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

inline std::pair<std::string, std::string> host_port(const std::string& address) {
  auto colon = address.rfind(':');
  return {address.substr(0, colon), address.substr(colon + 1)};
}

inline void receive_timeout(tcp::socket& s, std::chrono::milliseconds t) {
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
      if (!token.empty())
        req.set(beast::http::field::authorization, "Bearer " + token);
    }));
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
      if (kind == websocket::frame_type::ping)
        ++pings_;
      if (kind == websocket::frame_type::pong)
        pongs_.emplace_back(payload);
    });
    ws_.handshake(host, "/v1/events/ws" + query);
  }

  // Pings received so far (the server's heartbeat); read by other threads
  // while one thread blocks in next().
  int pings() const { return pings_.load(); }

  // The next event, or nothing when the connection ended or stayed silent
  // for 10 s (asio's blocking reads ignore SO_RCVTIMEO, so the read is
  // asynchronous with a deadline; after a timeout the stream is closed).
  std::optional<event> next() {
    beast::flat_buffer buffer;
    auto text = read_message(buffer);
    if (!text)
      return std::nullopt;
    auto j = json::parse(*text);
    return event{j["id"].get<long long>(), j["topic"], j["data"]};
  }

  // Pings the server with `payload` (it answers with a pong carrying it).
  beast::error_code send_ping(const std::string& payload) {
    beast::error_code ec;
    ws_.ping(websocket::ping_data{payload}, ec);
    return ec;
  }

  // The payloads of the pongs received so far, in order (read on this thread).
  const std::vector<std::string>& pongs() const { return pongs_; }

  // Sends a text message (clients are expected to send none).
  beast::error_code send_text(const std::string& text) {
    beast::error_code ec;
    ws_.write(asio::buffer(text), ec);
    return ec;
  }

  // The close reason the server sent, once a read ended with a close frame.
  websocket::close_reason close_reason() const { return ws_.reason(); }

  // Reads until the connection ends; the error it ended with.
  beast::error_code read_until_closed() {
    for (;;) {
      beast::flat_buffer buffer;
      if (!read_message(buffer))
        return last_error_;
    }
  }

  tcp::socket& socket() { return ws_.next_layer(); }

  std::vector<event> take(std::size_t n) { return take_from(*this, n); }

private:
  std::optional<std::string> read_message(beast::flat_buffer& buffer) {
    bool done = false;
    beast::error_code ec;
    ws_.async_read(buffer, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    ioc_.restart();
    ioc_.run_for(10s);
    if (!done) {
      beast::error_code ignored;
      ws_.next_layer().close(ignored);
      ioc_.restart();
      ioc_.run();
      last_error_ = beast::error::timeout;
      return std::nullopt;
    }
    last_error_ = ec;
    if (ec)
      return std::nullopt;
    return beast::buffers_to_string(buffer.data());
  }

  asio::io_context ioc_;
  websocket::stream<tcp::socket> ws_;
  std::atomic<int> pings_{0};
  std::vector<std::string> pongs_;
  beast::error_code last_error_;
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
                      "\r\nAccept: text/event-stream\r\n";
    if (!token.empty())
      req += "Authorization: Bearer " + token + "\r\n";
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

  // The next comment block (": subscribed", ": ping"), skipping events; ""
  // when the stream ended or stayed silent.
  std::string next_comment() {
    for (;;) {
      auto block = until("\n\n");
      if (block.empty() || block[0] == ':')
        return block;
    }
  }

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

} // namespace troupe::test
