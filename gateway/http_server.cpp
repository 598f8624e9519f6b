#include "gateway/http_server.hpp"

#include "gateway/event_stream.hpp"
#include "gateway/http_framing.hpp"
#include "gateway/http_server_impl.hpp"
#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"

#include <array>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cerrno>
#include <cmath>
#include <fcntl.h>
#include <optional>
#include <sys/socket.h>
#include <unistd.h>

// The sessions of the HTTP server (one per connection: framing, dispatch,
// responses), its accept loop and its life cycle; event streams are in
// event_stream.cpp, the state both share in http_server_impl.hpp.
namespace troupe::gateway {

namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// Bytes read and dropped from a client after its connection's last response.
constexpr std::size_t max_linger_bytes = 1 << 20;
// Refusals being written at once; beyond, a refused connection is just closed.
constexpr std::size_t max_refusals_in_flight = 64;
// Back-off of the accept loop after a resource error (EMFILE and the like):
// from the first value, doubling, up to the second.
constexpr auto accept_backoff_min = std::chrono::milliseconds{10};
constexpr auto accept_backoff_max = std::chrono::milliseconds{1000};

bool request_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == ':' || c == '-';
}

} // namespace

std::string request_id_for(std::string_view v) {
  if (!v.empty() && v.size() <= 128 && std::all_of(v.begin(), v.end(), request_id_char))
    return std::string{v};
  return crypto::random_hex(12);
}

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket socket, std::unique_ptr<connection_slot> slot, http_server::impl* server)
      : stream_(std::move(socket)), slot_(std::move(slot)), server_(server),
        deadline_(stream_.get_executor()) {
    beast::error_code ec;
    peer_ = stream_.socket().remote_endpoint(ec).address();
  }

  void run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&session::read, shared_from_this()));
  }

  void close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->force_close(); });
  }

  // close() at once: only on an io thread of the session's, or while none runs.
  void force_close() {
    if (handed_over_)
      return; // the socket belongs to an event stream now
    deadline_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

private:
  // Reads the next request's head; the body follows once the head passed
  // the framing rules (and, when asked, after "100 Continue").
  void read() {
    head_ = false;
    head_stream_ = false;
    parser_.emplace();
    limit_parser(*parser_, server_->opts);
    skip_empty_lines(buffer_);
    stream_.expires_after(server_->opts.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&session::on_header, shared_from_this()));
  }

  static bool connection_ended(const beast::error_code& ec) {
    return ec == http::error::end_of_stream || ec == beast::error::timeout ||
           ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
           ec == asio::error::eof;
  }

  void on_header(beast::error_code ec, std::size_t consumed) {
    if (connection_ended(ec))
      return shutdown();
    if (ec) {
      // Empty lines that arrived in front of a request line are ignored;
      // only there: once the parser took part of a head, what follows a bad
      // line is never read as a request of its own.
      if (consumed == 0 && ec != http::error::body_limit && ec != http::error::header_limit &&
          skip_empty_lines(buffer_) > 0)
        return read();
      return refuse(problem_of(ec));
    }
    head_ = parser_->get().method() == http::verb::head;
    if (auto problem = check_head(parser_->get()))
      return refuse(*problem);
    if (auto problem = admit_body())
      return refuse(*problem);
    if (parser_->is_done())
      return on_read({}, 0);
    auto self = shared_from_this();
    auto read_body = [self] {
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       beast::bind_front_handler(&session::on_read, self));
    };
    if (!expects_continue(parser_->get()))
      return read_body();
    static const std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(go_on),
                      [self, read_body](beast::error_code ec, std::size_t) {
                        if (ec)
                          return self->shutdown();
                        read_body();
                      });
  }

  // The body limit of the request's route. Most take server.max_body_bytes;
  // one that takes a large body (an import) gets its own limit while one of
  // the node's few large-body slots is free, held until the request is
  // answered (503 when none is).
  std::optional<framing_problem> admit_body() {
    large_slot_.reset();
    const auto& head = parser_->get();
    auto target = std::string_view{head.target().data(), head.target().size()};
    matched_ = match(std::string_view{head.method_string().data(), head.method_string().size()},
                     target.substr(0, target.find('?')));
    const auto& m = matched_;
    const auto& opts = server_->opts;
    auto limit = route_body_limit(m, opts);
    auto length = parser_->content_length();
    if (length && *length > limit)
      return problem_of(http::error::body_limit);
    if (m.kind != match_result::found || !m.matched->large_body) {
      parser_->body_limit(limit);
      return std::nullopt;
    }
    auto& count = *server_->large_bodies;
    if (count.fetch_add(1) >= opts.max_large_bodies) {
      --count;
      return framing_problem{503, "unavailable",
                             "this node is receiving as many large request bodies as it may; retry"};
    }
    metrics::http_large_bodies(1);
    large_slot_ = std::shared_ptr<void>(nullptr, [held = server_->large_bodies](void*) {
      --*held;
      metrics::http_large_bodies(-1);
    });
    parser_->body_limit(limit);
    return std::nullopt;
  }

  // A framing error: answer once, then close (the stream is out of sync).
  void refuse(const framing_problem& problem) {
    auto id = request_id_for("");
    keep_alive_ = false;
    method_.clear();
    path_.clear();
    route_ = "unmatched";
    started_ = std::chrono::steady_clock::now();
    server_->begin_request();
    write(error_response(problem.status, problem.code, problem.message, id), id);
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (connection_ended(ec))
      return shutdown();
    if (ec)
      return refuse(problem_of(ec));
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive() && !server_->closing && server_->accepting;
    auto in = to_incoming(req, client_address(peer_, req, server_->trusted_proxies),
                          std::move(matched_));
    method_ = in.method;
    path_ = in.path;
    route_ = in.matched.matched ? std::string_view{in.matched.matched->path}
                                : std::string_view{"unmatched"};
    started_ = std::chrono::steady_clock::now();
    server_->begin_request();
    auto id = in.request_id;
    auto self = shared_from_this();
    auto serial = ++serial_;
    deadline_.expires_after(server_->opts.request_timeout);
    deadline_.async_wait([self, id, serial](beast::error_code ec) {
      if (ec || self->answered_ >= serial)
        return;
      self->answered_ = serial;
      self->write(error_response(503, "unavailable", "the request timed out inside the server", id),
                  id);
    });
    // A large body's slot lasts until the domain replies, even when the
    // deadline answered first: its body is held until then. Every copy of
    // the callback shares one holder, released by the reply itself (not when
    // the last copy happens to be destroyed, on some other thread, later).
    auto slot = std::make_shared<std::shared_ptr<void>>(large_slot_);
    server_->dispatch(std::move(in), [self, id, serial, slot](reply r) {
      slot->reset();
      asio::post(self->stream_.get_executor(), [self, id, serial, r = std::move(r)]() mutable {
        if (self->answered_ >= serial)
          return; // answered 503 by the deadline already (maybe more since)
        self->answered_ = serial;
        self->deadline_.cancel();
        if (auto* stream = std::get_if<stream_request>(&r))
          return self->start_stream(std::move(*stream), id);
        self->write(std::get<api_response>(std::move(r)), id);
      });
    });
  }

  // Hands the connection to an event stream; the session ends here. A HEAD
  // request gets the stream's head and no stream.
  void start_stream(stream_request stream, const std::string& id) {
    bool ws = stream.kind == stream_kind::ws;
    if (ws && !websocket::is_upgrade(parser_->get()))
      return write(error_response(426, "upgrade_required",
                                  "this endpoint speaks WebSocket: send an Upgrade request", id),
                   id);
    if (head_) {
      api_response r;
      r.headers["Content-Type"] = "text/event-stream";
      r.headers["Cache-Control"] = "no-cache";
      head_stream_ = true; // a stream has no length and ends with its connection
      keep_alive_ = false;
      return write(std::move(r), id);
    }
    if (server_->closing)
      return write(error_response(503, "unavailable", "the server is shutting down", id), id);
    if (auto full = server_->take_stream_slot(stream.sub.user_id); !full.empty()) {
      metrics::event_stream_refused(full);
      if (full == "node")
        return write(error_response(503, "unavailable",
                                    "this node holds as many event streams as it may (" +
                                        std::to_string(server_->opts.max_streams) + ")",
                                    id),
                     id);
      auto refusal = error_response(
          429, "rate_limited",
          "too many open event streams for this user (at most " +
              std::to_string(server_->opts.max_streams_per_user) + "); close one first",
          id);
      refusal.headers["Retry-After"] = "5";
      return write(std::move(refusal), id);
    }
    log_request(ws ? 101 : 200, id);
    server_->end_request(); // a stream is not a request in flight
    handed_over_ = true;
    auto s = open_event_stream(std::move(stream_), std::move(slot_), stream.kind,
                               server_->shared_from_this(), id, parser_->release(),
                               std::move(stream.sub));
    std::lock_guard guard{server_->mutex};
    for (auto it = server_->streams.begin(); it != server_->streams.end();)
      it = it->expired() ? server_->streams.erase(it) : std::next(it);
    server_->streams.insert(s);
  }

  void write(api_response r, const std::string& id) {
    log_request(r.status, id);
    if (server_->closing || !server_->accepting)
      keep_alive_ = false;
    auto bytes = std::make_shared<std::string>(
        serialize_response(r, id, {keep_alive_, head_, head_ && head_stream_}));
    // The large body was held until its answer: free its slot now, before the
    // client can read the answer and send its next one.
    large_slot_.reset();
    stream_.expires_after(server_->opts.idle_timeout);
    asio::async_write(stream_, asio::buffer(*bytes),
                     [self = shared_from_this(), bytes](beast::error_code ec, std::size_t) {
                       self->server_->end_request();
                       if (ec)
                         return self->shutdown();
                       if (!self->keep_alive_)
                         return self->linger_close();
                       self->read();
                     });
  }

  // Counts the request and logs one line: debug normally, warn for
  // server-side failures.
  void log_request(int status, const std::string& id) {
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_);
    metrics::http_request(route_, method_, status, ms.count() / 1000);
    auto level = status >= 500 ? log::level::warn : log::level::debug;
    if (!log::enabled(level))
      return;
    log::write(level, "request", {{"request_id", id}, {"method", method_}, {"path", path_},
                                  {"status", status}, {"duration_ms", std::round(ms.count() * 100) / 100}});
  }

  void shutdown() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  // Closes after a last response: the send side first, then whatever the
  // client still sends (a refused body, pipelined requests) is read and
  // dropped, for goodbye_timeout and max_linger_bytes at most. Closing with
  // unread bytes would make the kernel answer with a reset, which can
  // destroy the response before the client reads it.
  void linger_close(std::size_t dropped = 0) {
    if (dropped == 0) {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      if (ec)
        return stream_.close();
      stream_.expires_after(goodbye_timeout);
    }
    buffer_.consume(buffer_.size());
    stream_.async_read_some(
        buffer_.prepare(4096), [self = shared_from_this(), dropped](beast::error_code ec, std::size_t n) {
          if (ec || dropped + n > max_linger_bytes)
            return self->stream_.close();
          self->linger_close(dropped + n);
        });
  }

  beast::tcp_stream stream_;
  std::unique_ptr<connection_slot> slot_;
  beast::flat_buffer buffer_;
  std::optional<request_parser> parser_;
  http_server::impl* server_; // outlives every session (stop() drains the io_context)
  asio::ip::address peer_;
  bool keep_alive_ = true;
  bool head_ = false;        // the request being handled is a HEAD
  bool head_stream_ = false; // …of an event stream: no Content-Length
  bool handed_over_ = false; // the connection became an event stream
  asio::steady_timer deadline_;
  std::uint64_t serial_ = 0;   // the request being handled
  std::uint64_t answered_ = 0; // the last request answered
  std::string method_, path_;
  std::string_view route_ = "unmatched"; // a route template (static) for metrics
  std::shared_ptr<void> large_slot_;      // a large-body slot, while this request holds one
  match_result matched_;                  // the route of the request being read
  std::chrono::steady_clock::time_point started_;
};

// ---- accepting ---------------------------------------------------------------------

namespace {

// The answer to a connection refused at accept.
const std::string& refusal_bytes() {
  static const std::string bytes = [] {
    auto body = error_response(503, "unavailable",
                               "the server holds as many connections as it may; retry shortly", "")
                    .body;
    return "HTTP/1.1 503 Service Unavailable\r\nServer: troupe\r\n"
           "Content-Type: application/json; charset=utf-8\r\nRetry-After: 1\r\n"
           "Connection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  return bytes;
}

bool out_of_descriptors(const beast::error_code& ec) {
  auto v = ec.value();
  return ec.category() == boost::system::system_category() &&
         (v == EMFILE || v == ENFILE || v == ENOBUFS || v == ENOMEM);
}

// A refused connection: its 503 is written, its request (if any) read and
// dropped so the client sees the answer rather than a reset, and it closes
// after goodbye_timeout at the latest.
struct refusal : std::enable_shared_from_this<refusal> {
  beast::tcp_stream stream;
  std::shared_ptr<std::atomic<std::size_t>> in_flight;
  std::array<char, 4096> sink{};

  refusal(tcp::socket s, std::shared_ptr<std::atomic<std::size_t>> n)
      : stream(std::move(s)), in_flight(std::move(n)) {}
  ~refusal() { --*in_flight; }

  void run() {
    stream.expires_after(goodbye_timeout);
    asio::async_write(stream, asio::buffer(refusal_bytes()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec)
                          return;
                        beast::error_code ignored;
                        self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        self->drain();
                      });
  }

  void drain() {
    stream.async_read_some(asio::buffer(sink),
                           [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (!ec)
                               self->drain();
                           });
  }
};

} // namespace

void http_server::impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (!accepting)
      return;
    if (ec)
      return on_accept_error(ec);
    accept_backoff = std::chrono::milliseconds{0};
    admit(std::move(socket));
    accept();
  });
}

// A resource error would fail again at once: the loop backs off (and, out
// of descriptors, refuses one waiting client with the spare descriptor), so
// it neither spins nor leaves clients hanging in the backlog.
void http_server::impl::on_accept_error(const beast::error_code& ec) {
  if (ec == asio::error::operation_aborted)
    return;
  if (!out_of_descriptors(ec)) {
    metrics::http_accept_error("other");
    return accept(); // the client gave up before it was accepted (ECONNABORTED and the like)
  }
  metrics::http_accept_error("descriptors");
  refuse_with_spare_descriptor();
  auto previous = accept_backoff;
  accept_backoff = std::clamp(accept_backoff * 2, accept_backoff_min, accept_backoff_max);
  if (previous != accept_backoff)
    log::warn("accept failed; backing off",
              {{"error", ec.message()}, {"retry_in_ms", accept_backoff.count()},
               {"connections", connections->load()}});
  accept_timer.expires_after(accept_backoff);
  accept_timer.async_wait([this](beast::error_code e) {
    if (!e && accepting)
      accept();
  });
}

void http_server::impl::refuse_with_spare_descriptor() {
  if (spare_fd < 0)
    return;
  ::close(spare_fd);
  spare_fd = -1;
  int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    metrics::http_connection_refused("descriptors");
    const auto& bytes = refusal_bytes();
    [[maybe_unused]] auto sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    // What already arrived is read, so closing does not reset the answer away.
    char dropped[4096];
    for (int i = 0; i < 16 && ::recv(fd, dropped, sizeof dropped, MSG_DONTWAIT) > 0; ++i) {
    }
    ::close(fd);
  }
  spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void http_server::impl::admit(tcp::socket socket) {
  if (connections->load() >= opts.max_connections)
    return refuse(std::move(socket));
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto s = std::make_shared<session>(std::move(socket), std::make_unique<connection_slot>(connections),
                                     this);
  {
    std::lock_guard guard{mutex};
    for (auto it = sessions.begin(); it != sessions.end();)
      it = it->expired() ? sessions.erase(it) : std::next(it);
    sessions.insert(s);
  }
  s->run();
}

void http_server::impl::refuse(tcp::socket socket) {
  metrics::http_connection_refused("limit");
  if (refusals->fetch_add(1) >= max_refusals_in_flight) {
    --*refusals;
    beast::error_code ec;
    socket.close(ec);
    return;
  }
  std::make_shared<refusal>(std::move(socket), refusals)->run();
}

http_server::http_server(http_server_options opts, dispatcher d)
    : impl_(std::make_shared<impl>()) {
  impl_->opts = std::move(opts);
  impl_->dispatch = std::move(d);
  for (const auto& text : impl_->opts.trusted_proxies)
    impl_->trusted_proxies.push_back(asio::ip::make_address(text));
}

http_server::~http_server() { stop(); }

std::string http_server::start() {
  auto& s = *impl_;
  auto address = asio::ip::make_address(s.opts.host == "localhost" ? "127.0.0.1" : s.opts.host);
  tcp::endpoint endpoint{address, s.opts.port};
  s.acceptor.open(endpoint.protocol());
  s.acceptor.set_option(asio::socket_base::reuse_address(true));
  s.acceptor.bind(endpoint);
  s.acceptor.listen(asio::socket_base::max_listen_connections);
  s.acceptor.native_non_blocking(true); // the spare-descriptor refusal accepts without waiting
  s.spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  s.accepting = true;
  s.work.emplace(s.ioc.get_executor());
  s.accept();
  s.running_threads = static_cast<std::size_t>(s.opts.io_threads);
  for (int i = 0; i < s.opts.io_threads; ++i)
    s.threads.emplace_back([&s] {
      s.ioc.run();
      std::lock_guard guard{s.mutex};
      --s.running_threads;
      s.idle_cv.notify_all();
    });
  auto bound = s.acceptor.local_endpoint();
  auto host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                      : bound.address().to_string();
  return host + ":" + std::to_string(bound.port());
}

void http_server::stop_accepting() {
  auto& s = *impl_;
  if (!s.accepting.exchange(false))
    return;
  asio::post(s.accept_strand, [&s] {
    beast::error_code ec;
    s.acceptor.close(ec);
    s.accept_timer.cancel();
  });
}

bool http_server::wait_idle(std::chrono::milliseconds grace) {
  std::unique_lock lock{impl_->mutex};
  return impl_->idle_cv.wait_for(lock, grace, [this] { return impl_->active == 0; });
}

std::size_t http_server::open_streams() const {
  std::lock_guard guard{impl_->mutex};
  std::size_t n = 0;
  for (auto& weak : impl_->streams)
    if (auto sp = weak.lock(); sp && !sp->closed())
      ++n;
  return n;
}

std::size_t http_server::open_connections() const { return impl_->connections->load(); }

std::size_t http_server::in_flight() const {
  std::lock_guard guard{impl_->mutex};
  return impl_->active;
}

namespace {

// Calls `on_session` and `on_stream` for every session and stream still open.
template <class Impl, class OnSession, class OnStream>
void each_open(Impl& s, OnSession on_session, OnStream on_stream) {
  std::lock_guard guard{s.mutex};
  for (auto& weak : s.sessions)
    if (auto sp = weak.lock())
      on_session(*sp);
  for (auto& weak : s.streams)
    if (auto sp = weak.lock())
      on_stream(*sp);
}

} // namespace

// Closes every connection, lets the io threads finish their goodbyes (close
// frames, refusals: each bounded by goodbye_timeout), then runs whatever
// handlers are still queued. Those hold sessions and streams, and a stream
// holds this server: left queued, they would keep each other alive forever.
void http_server::stop() {
  auto& s = *impl_;
  if (s.closing.exchange(true))
    return;
  stop_accepting();
  each_open(
      s, [](auto& session) { session.close(); },
      [](auto& stream) { stream.disconnect("the server is shutting down"); });
  s.work.reset();
  {
    std::unique_lock lock{s.mutex};
    if (!s.idle_cv.wait_for(lock, goodbye_timeout + std::chrono::seconds{1},
                            [&s] { return s.running_threads == 0; }))
      s.ioc.stop();
  }
  for (auto& t : s.threads)
    if (t.joinable())
      t.join();
  // If the goodbyes ran out of time, what is still open is cut now, so that
  // its pending operations complete below.
  each_open(
      s, [](auto& session) { session.force_close(); }, [](auto& stream) { stream.force_close(); });
  s.ioc.restart();
  for (int round = 0; round < 100 && s.ioc.poll() > 0; ++round) {
  }
  if (s.spare_fd >= 0)
    ::close(s.spare_fd);
  s.spare_fd = -1;
}

} // namespace troupe::gateway
