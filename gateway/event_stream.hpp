// An event stream: a connection its session handed over once the gateway
// accepted the subscription (an SSE response or a WebSocket). The bridge
// offers events from its own thread; the stream queues them (bounded) and
// writes them on the connection's strand, batching what accumulated while a
// write was out. A subscriber that lets the queue fill is disconnected;
// nobody else waits. However it ends, it gives back its connection and
// stream slots and tells the server (on_stream_closed), so the bridge
// forgets it at once.
#pragma once

#include "gateway/http_server.hpp"
#include "messages/events.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <string>

namespace troupe::gateway {

class connection_slot;

class event_stream : public subscriber_sink {
public:
  // Closes the socket and stops the timer at once, so pending operations
  // complete and end the stream. Only while no io thread runs (the end of
  // http_server::stop()).
  virtual void force_close() = 0;
};

// Starts a stream on `connection` (already answered nothing): the SSE head
// or the WebSocket handshake for `request`, then `subscription` goes to the
// server's on_stream. The stream slot of the subscription's user was taken
// by the caller. The stream holds `server` so that its io_context outlives
// the socket.
std::shared_ptr<event_stream> open_event_stream(
    boost::beast::tcp_stream connection, std::unique_ptr<connection_slot> slot, stream_kind kind,
    std::shared_ptr<http_server::impl> server, std::string request_id,
    boost::beast::http::request<boost::beast::http::string_body> request, subscription sub);

} // namespace troupe::gateway
