#include "gateway/event_stream.hpp"

#include "gateway/coalescing_stream.hpp"

#include "gateway/http_server_impl.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"

#include <array>
#include <boost/beast/websocket.hpp>
#include <mutex>
#include <optional>

namespace troupe::gateway {
namespace {

namespace http = beast::http;
namespace websocket = beast::websocket;

class stream_connection : public event_stream,
                          public std::enable_shared_from_this<stream_connection> {
public:
  using kind = stream_kind;

  // Holds the server so that its io_context outlives this stream's socket.
  // The stream slot of `user` was taken by the caller and is given back when
  // the connection closes.
  stream_connection(beast::tcp_stream stream, std::unique_ptr<connection_slot> slot, kind k,
               std::shared_ptr<http_server::impl> server, std::string id, std::string user)
      : kind_(k), server_(std::move(server)), id_(std::move(id)), user_(std::move(user)),
        slot_(std::move(slot)), strand_(stream.get_executor()), heartbeat_(stream.get_executor()) {
    if (k == kind::ws) {
      ws_.emplace(coalescing_stream{std::move(stream)});
      // Clients send nothing but control frames: a message larger than this
      // is refused with close code 1009 before it is buffered.
      ws_->read_message_max(server_->opts.ws_max_message_bytes);
    } else {
      tcp_.emplace(std::move(stream));
    }
    metrics::event_subscribers(transport(), 1);
  }

  ~stream_connection() override {
    if (!done_)
      release();
  }

  void start(http::request<http::string_body> req, subscription sub) {
    auto& socket = lowest().socket();
    beast::error_code ec;
    socket.set_option(asio::socket_base::send_buffer_size(server_->opts.stream_send_buffer_bytes), ec);
    lowest().expires_never();
    writing_ = true; // the handshake goes first
    auto self = shared_from_this();
    if (kind_ == kind::sse) {
      auto head = std::make_shared<std::string>(
          "HTTP/1.1 200 OK\r\nServer: troupe\r\nContent-Type: text/event-stream\r\n"
          "Cache-Control: no-cache\r\nConnection: close\r\nX-Accel-Buffering: no\r\n"
          "X-Request-Id: " + id_ + "\r\n\r\n: subscribed\n\n");
      asio::async_write(*tcp_, asio::buffer(*head), [self, head](beast::error_code ec, std::size_t) {
        if (ec)
          return self->fail("write failed");
        self->writing_ = false;
        self->watch_sse();
        self->pump();
      });
    } else {
      ws_->set_option(websocket::stream_base::decorator([id = id_](websocket::response_type& res) {
        res.set(http::field::server, "troupe");
        res.set("X-Request-Id", id);
      }));
      ws_->text(true);
      ws_->async_accept(req, [self](beast::error_code ec) {
        if (ec)
          return self->fail("handshake failed");
        self->writing_ = false;
        self->watch_ws();
        self->pump();
      });
    }
    arm_heartbeat();
    if (server_->opts.on_stream)
      server_->opts.on_stream(sub, self);
  }

  bool offer(const event_ptr& e) override {
    std::lock_guard guard{mutex_};
    if (closed_)
      return false;
    if (queue_.size() >= 2 * server_->opts.stream_buffer_events) {
      closed_ = true;
      metrics::event_subscriber_dropped("overflow");
      asio::post(strand_, [self = shared_from_this()] {
        self->fail("fell behind by more than the stream buffer");
      });
      return false;
    }
    queue_.push_back(e);
    if (!scheduled_) {
      scheduled_ = true;
      asio::post(strand_, [self = shared_from_this()] { self->pump(); });
    }
    return true;
  }

  bool closed() const override {
    std::lock_guard guard{mutex_};
    return closed_;
  }

  std::size_t backlog() const override {
    std::lock_guard guard{mutex_};
    return queue_.size() + in_flight_;
  }

  std::uint64_t written() const override {
    std::lock_guard guard{mutex_};
    return written_;
  }

  void disconnect(const std::string& reason) override {
    {
      std::lock_guard guard{mutex_};
      if (closed_)
        return; // closing already
      closed_ = true;
    }
    asio::post(strand_, [self = shared_from_this(), reason] {
      if (self->kind_ == kind::ws && !self->writing_ && !self->done_) {
        // A clear close frame when the connection can take one, but never a
        // wait on a client that does not answer it: cut after
        // goodbye_timeout. (The heartbeat's timer is free from here on; a
        // stream timeout would not reach the read already pending.)
        self->writing_ = true;
        self->saying_goodbye_ = true;
        self->ws_->async_close(websocket::close_reason(websocket::close_code::going_away, reason),
                               [self, reason](beast::error_code) { self->fail(reason); });
        self->heartbeat_.expires_after(goodbye_timeout);
        self->heartbeat_.async_wait([self, reason](beast::error_code ec) {
          if (!ec)
            self->fail(reason + " (the client did not answer the close)");
        });
        return;
      }
      self->fail(reason);
    });
  }

  void force_close() override {
    heartbeat_.cancel();
    beast::error_code ec;
    lowest().socket().close(ec);
  }

private:
  std::string_view transport() const { return kind_ == kind::ws ? "ws" : "sse"; }

  beast::tcp_stream& lowest() { return ws_ ? beast::get_lowest_layer(*ws_) : *tcp_; }

  // On the strand: writes what is queued, one batch at a time.
  void pump() {
    if (writing_ || done_)
      return;
    auto batch = std::make_shared<std::vector<event_ptr>>();
    {
      std::lock_guard guard{mutex_};
      scheduled_ = false;
      batch->swap(queue_);
      in_flight_ = batch->size();
    }
    if (batch->empty())
      return;
    writing_ = true;
    if (kind_ == kind::sse) {
      auto text = std::make_shared<std::string>();
      for (const auto& e : *batch)
        *text += e->sse;
      asio::async_write(*tcp_, asio::buffer(*text),
                        [self = shared_from_this(), text](beast::error_code ec, std::size_t) {
                          self->after_write(ec);
                        });
    } else {
      write_ws(batch, 0);
    }
  }

  // Frames the batch's events from `i` into the layer under the WebSocket,
  // sending whenever it holds flush_bytes: one socket write per ~64 KB.
  void write_ws(std::shared_ptr<std::vector<event_ptr>> batch, std::size_t i) {
    auto& out = ws_->next_layer();
    out.cork();
    while (i < batch->size() && out.buffered() < coalescing_stream::flush_bytes)
      out.append_text((*batch)[i++]->json);
    out.uncork([self = shared_from_this(), batch, i](beast::error_code ec) {
      if (ec || i == batch->size())
        return self->after_write(ec);
      self->write_ws(batch, i);
    });
  }

  void after_write(beast::error_code ec) {
    writing_ = false;
    if (ec)
      return fail("write failed");
    std::size_t n = 0;
    {
      std::lock_guard guard{mutex_};
      n = in_flight_;
      written_ += in_flight_;
      in_flight_ = 0;
    }
    if (n > 0)
      metrics::events_delivered(transport(), n);
    pump();
  }

  // The client sends nothing on an SSE stream; a read ends when it hangs up.
  void watch_sse() {
    tcp_->async_read_some(asio::buffer(scratch_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec)
                              return self->fail("client closed");
                            self->watch_sse();
                          });
  }

  // Reading answers the client's pings and notices its close.
  void watch_ws() {
    ws_->async_read(inbox_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec)
        return self->fail("client closed");
      self->inbox_.consume(self->inbox_.size());
      self->watch_ws();
    });
  }

  void arm_heartbeat() {
    heartbeat_.expires_after(server_->opts.stream_heartbeat);
    heartbeat_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->done_ || self->saying_goodbye_)
        return;
      if (!self->writing_) {
        self->writing_ = true;
        if (self->kind_ == kind::sse) {
          static const std::string ping = ": ping\n\n";
          asio::async_write(*self->tcp_, asio::buffer(ping),
                            [self](beast::error_code ec, std::size_t) { self->after_write(ec); });
        } else {
          self->ws_->async_ping({}, [self](beast::error_code ec) { self->after_write(ec); });
        }
      }
      self->arm_heartbeat();
    });
  }

  // Ends the stream: the socket closes, the slots are given back, and the
  // bridge is told to forget this sink, so nothing it holds outlives the
  // connection (its buffers go with the last reference).
  void fail(const std::string& reason) {
    if (done_)
      return;
    done_ = true;
    {
      std::lock_guard guard{mutex_};
      closed_ = true;
      queue_.clear();
    }
    heartbeat_.cancel();
    if (reason != "client closed")
      log::info("event stream closed", {{"request_id", id_}, {"reason", reason}});
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
    inbox_.clear();
    inbox_.shrink_to_fit();
    release();
    if (server_->opts.on_stream_closed)
      server_->opts.on_stream_closed(shared_from_this());
  }

  // Gives back what the stream counted against the server's limits.
  void release() {
    metrics::event_subscribers(transport(), -1);
    server_->release_stream_slot(user_);
    slot_.reset();
  }

  kind kind_;
  std::shared_ptr<http_server::impl> server_;
  std::string id_;
  std::string user_;
  std::unique_ptr<connection_slot> slot_;
  asio::any_io_executor strand_;
  std::optional<beast::tcp_stream> tcp_;
  std::optional<websocket::stream<coalescing_stream>> ws_;
  asio::steady_timer heartbeat_;
  beast::flat_buffer inbox_;
  std::array<char, 64> scratch_{}; // SSE clients send nothing worth a bigger read
  bool writing_ = false; // strand only
  bool done_ = false;    // strand only
  bool saying_goodbye_ = false; // a close frame is out; heartbeat_ times its answer (strand only)
  mutable std::mutex mutex_;
  // Events to write; a vector (taken whole by each write) allocates nothing
  // until the first event, where a deque would hold ~600 bytes per idle
  // stream. Guarded by mutex_.
  std::vector<event_ptr> queue_;
  bool scheduled_ = false;      // a pump is posted; guarded by mutex_
  bool closed_ = false;         // guarded by mutex_
  std::size_t in_flight_ = 0;   // events of the write under way; guarded by mutex_
  std::uint64_t written_ = 0;   // guarded by mutex_
};

} // namespace

std::shared_ptr<event_stream> open_event_stream(beast::tcp_stream connection,
                                                std::unique_ptr<connection_slot> slot,
                                                stream_kind kind,
                                                std::shared_ptr<http_server::impl> server,
                                                std::string request_id,
                                                http::request<http::string_body> request,
                                                subscription sub) {
  auto user = sub.user_id;
  auto s = std::make_shared<stream_connection>(std::move(connection), std::move(slot), kind,
                                               std::move(server), std::move(request_id),
                                               std::move(user));
  s->start(std::move(request), std::move(sub));
  return s;
}

} // namespace troupe::gateway
