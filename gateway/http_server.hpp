// HTTP/1.1 server on Boost.Beast with keep-alive, running on its own io
// threads. It frames requests (enforcing header and body limits), hands each
// one to a dispatcher, and writes the response whenever the dispatcher's
// responder is called — from any thread. An io thread never waits for the
// response.
#pragma once

#include "gateway/router.hpp"
#include "messages/api.hpp"
#include "messages/events.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace troupe::gateway {

struct incoming_request {
  std::string method;
  std::string path;  // without the query string
  std::string query; // raw, after '?'
  std::string request_id;
  std::string client_address; // the peer, or the client behind a trusted proxy
  std::string content_type;
  std::string body;
  std::map<std::string, std::string> headers; // lower-case names, all headers
  match_result matched; // the route, matched once by the session (it labels metrics)
};

// A connection to hand to an event stream (GET /v1/events[/ws], accepted).
enum class stream_kind { sse, ws };
struct stream_request {
  stream_kind kind = stream_kind::sse;
  subscription sub;
};

// What a request is answered with: a response, or its connection turned
// into an event stream.
using reply = std::variant<api_response, stream_request>;

// Called exactly once with the reply; safe from any thread.
using responder = std::function<void(reply)>;
using dispatcher = std::function<void(incoming_request, responder)>;

struct http_server_options {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  int io_threads = 2;
  std::size_t max_body_bytes = 1 << 20;
  // Routes marked large_body (an import) take bodies up to large_body_bytes,
  // at most max_large_bodies of them held at once on this node; one more is
  // answered 503 and its connection closed before its body is read.
  std::size_t large_body_bytes = 32 << 20;
  std::size_t max_large_bodies = 2;
  std::size_t max_header_bytes = 16384;
  std::chrono::seconds idle_timeout{60};
  // A request not answered within this is answered 503 (a late reply is dropped).
  std::chrono::milliseconds request_timeout{30000};
  // Open connections (event streams included) beyond which a new one is
  // answered 503 and closed.
  std::size_t max_connections = 16384;
  // Peers whose X-Forwarded-For names the client (addresses, e.g. a load balancer).
  std::vector<std::string> trusted_proxies;

  // Event streams: a stream_request reply turns its connection into a
  // stream; on_stream gets the subscription and the stream's sink, on an io
  // thread.
  std::function<void(const subscription& sub, sink_ptr sink)> on_stream;
  // Called once when a stream's connection has closed, from an io thread.
  std::function<void(sink_ptr sink)> on_stream_closed;
  std::size_t max_streams = 16384;         // open streams on this server; beyond → 503
  std::size_t max_streams_per_user = 256;  // open streams of one user; beyond → 429
  std::size_t ws_max_message_bytes = 4096; // a larger client message closes the stream (1009)
  std::size_t stream_buffer_events = 10000; // queued for a subscriber; beyond → disconnected
  std::chrono::seconds stream_heartbeat{15};
  int stream_send_buffer_bytes = 65536;     // SO_SNDBUF of a stream's socket
};

// A request id: the client's X-Request-Id when it is 1..128 characters of
// [A-Za-z0-9._:-], else a fresh one.
std::string request_id_for(std::string_view client_value);

class http_server {
public:
  http_server(http_server_options opts, dispatcher d);
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds, listens and starts the io threads. Returns the bound "host:port"
  // (the real port when 0 was asked for). Throws on bind failure.
  std::string start();

  // Stops accepting new connections; open connections finish their current
  // request and are closed after it.
  void stop_accepting();

  // Waits until no request is being handled, at most `grace`. True if idle.
  bool wait_idle(std::chrono::milliseconds grace);

  // Closes every connection and joins the io threads. Idempotent.
  void stop();

  std::size_t in_flight() const;
  std::size_t open_streams() const;
  std::size_t open_connections() const;

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace troupe::gateway
