#include "gateway/http_server.hpp"

#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"

#include <array>
#include <boost/asio.hpp>
#include <cmath>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>

namespace troupe::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

class session;
class event_stream;

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
  http_server_options opts;
  dispatcher dispatch;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::atomic<bool> accepting{false};
  std::atomic<bool> closing{false};
  std::mutex mutex;
  std::condition_variable idle_cv;
  std::size_t active = 0; // guarded by mutex
  std::set<std::weak_ptr<session>, std::owner_less<std::weak_ptr<session>>> sessions;
  std::set<std::weak_ptr<event_stream>, std::owner_less<std::weak_ptr<event_stream>>> streams;

  void begin_request() {
    std::lock_guard guard{mutex};
    ++active;
  }
  void end_request() {
    std::lock_guard guard{mutex};
    if (--active == 0)
      idle_cv.notify_all();
  }
  void accept();
};

namespace {

bool request_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == ':' || c == '-';
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

} // namespace

std::string request_id_for(std::string_view v) {
  if (!v.empty() && v.size() <= 128 && std::all_of(v.begin(), v.end(), request_id_char))
    return std::string{v};
  return crypto::random_hex(12);
}

// An event stream: a connection handed over by its session after the events
// api accepted the subscription. The bridge offers events from its own
// thread; this object queues them (bounded) and writes them on the
// connection's strand, batching what accumulated while a write was out. A
// subscriber that lets the queue fill is disconnected; nobody else waits.
class event_stream : public subscriber_sink, public std::enable_shared_from_this<event_stream> {
public:
  enum class kind { sse, ws };

  // Holds the server so that its io_context outlives this stream's socket.
  event_stream(beast::tcp_stream stream, kind k, std::shared_ptr<http_server::impl> server,
               std::string id)
      : kind_(k), server_(std::move(server)), id_(std::move(id)), strand_(stream.get_executor()),
        heartbeat_(stream.get_executor()) {
    if (k == kind::ws)
      ws_.emplace(std::move(stream));
    else
      tcp_.emplace(std::move(stream));
    metrics::event_subscribers(transport(), 1);
  }

  ~event_stream() override { metrics::event_subscribers(transport(), -1); }

  void start(http::request<http::string_body> req, std::string subscription_json) {
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
      server_->opts.on_stream(subscription_json, self);
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
      closed_ = true;
    }
    asio::post(strand_, [self = shared_from_this(), reason] {
      if (self->kind_ == kind::ws && !self->writing_ && !self->done_) {
        // A clear close frame when the connection can take one.
        self->writing_ = true;
        self->ws_->async_close(websocket::close_reason(websocket::close_code::going_away, reason),
                               [self, reason](beast::error_code) { self->fail(reason); });
        return;
      }
      self->fail(reason);
    });
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
      batch->assign(queue_.begin(), queue_.end());
      queue_.clear();
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

  void write_ws(std::shared_ptr<std::vector<event_ptr>> batch, std::size_t i) {
    ws_->async_write(asio::buffer((*batch)[i]->json),
                     [self = shared_from_this(), batch, i](beast::error_code ec, std::size_t) {
                       if (ec || i + 1 == batch->size())
                         return self->after_write(ec);
                       self->write_ws(batch, i + 1);
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
      if (ec || self->done_)
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
  }

  kind kind_;
  std::shared_ptr<http_server::impl> server_;
  std::string id_;
  asio::any_io_executor strand_;
  std::optional<beast::tcp_stream> tcp_;
  std::optional<websocket::stream<beast::tcp_stream>> ws_;
  asio::steady_timer heartbeat_;
  beast::flat_buffer inbox_;
  std::array<char, 512> scratch_{};
  bool writing_ = false; // strand only
  bool done_ = false;    // strand only
  mutable std::mutex mutex_;
  std::deque<event_ptr> queue_; // guarded by mutex_
  bool scheduled_ = false;      // a pump is posted; guarded by mutex_
  bool closed_ = false;         // guarded by mutex_
  std::size_t in_flight_ = 0;   // events of the write under way; guarded by mutex_
  std::uint64_t written_ = 0;   // guarded by mutex_
};

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket socket, http_server::impl* server)
      : stream_(std::move(socket)), server_(std::move(server)), deadline_(stream_.get_executor()) {}

  void run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&session::read, shared_from_this()));
  }

  void close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    });
  }

private:
  void read() {
    parser_.emplace();
    parser_->body_limit(server_->opts.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(server_->opts.max_header_bytes));
    stream_.expires_after(server_->opts.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof)
      return shutdown();
    if (ec) {
      // A framing error: answer once, then close (the stream is out of sync).
      bool too_large = ec == http::error::body_limit || ec == http::error::header_limit;
      auto id = request_id_for("");
      auto response =
          too_large ? error_response(413, "payload_too_large",
                                     ec == http::error::body_limit
                                         ? "request body exceeds the server's limit"
                                         : "request headers exceed the server's limit",
                                     id)
                    : error_response(400, "invalid_argument",
                                     "malformed HTTP request: " + ec.message(), id);
      keep_alive_ = false;
      method_.clear();
      path_.clear();
      route_ = "unmatched";
      started_ = std::chrono::steady_clock::now();
      server_->begin_request();
      return write(std::move(response), id);
    }
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive() && !server_->closing && server_->accepting;
    incoming_request in;
    in.method = std::string{req.method_string()};
    auto target = std::string_view{req.target().data(), req.target().size()};
    auto q = target.find('?');
    in.path = std::string{target.substr(0, q)};
    if (q != target.npos)
      in.query = std::string{target.substr(q + 1)};
    for (const auto& field : req)
      in.headers[lower({field.name_string().data(), field.name_string().size()})] =
          std::string{field.value()};
    in.request_id = request_id_for(in.headers["x-request-id"]);
    in.content_type = in.headers["content-type"];
    in.body = std::move(req.body());
    in.matched = match(in.method, in.path);
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
    server_->dispatch(std::move(in), [self, id, serial](api_response r) {
      asio::post(self->stream_.get_executor(), [self, id, serial, r = std::move(r)]() mutable {
        if (self->answered_ >= serial)
          return; // answered 503 by the deadline already (maybe more since)
        self->answered_ = serial;
        self->deadline_.cancel();
        auto stream = r.headers.find("X-Troupe-Stream");
        if (r.status == 200 && stream != r.headers.end())
          return self->start_stream(stream->second, std::move(r), id);
        self->write(std::move(r), id);
      });
    });
  }

  // Hands the connection to an event stream; the session ends here.
  void start_stream(const std::string& kind, api_response r, const std::string& id) {
    auto& req = parser_->get();
    if (kind == "ws" && !websocket::is_upgrade(req))
      return write(error_response(426, "upgrade_required",
                                  "this endpoint speaks WebSocket: send an Upgrade request", id),
                   id);
    log_request(kind == "ws" ? 101 : 200, id);
    auto s = std::make_shared<event_stream>(
        std::move(stream_), kind == "ws" ? event_stream::kind::ws : event_stream::kind::sse,
        server_->shared_from_this(), id);
    {
      std::lock_guard guard{server_->mutex};
      for (auto it = server_->streams.begin(); it != server_->streams.end();)
        it = it->expired() ? server_->streams.erase(it) : std::next(it);
      server_->streams.insert(s);
    }
    server_->end_request(); // a stream is not a request in flight
    s->start(parser_->release(), std::move(r.body));
  }

  void write(api_response r, const std::string& id) {
    log_request(r.status, id);
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(r.status);
    res->set(http::field::server, "troupe");
    res->set("X-Request-Id", id);
    for (auto& [k, v] : r.headers)
      res->set(k, v);
    if (!r.body.empty() && !r.headers.count("Content-Type"))
      res->set(http::field::content_type, "application/json; charset=utf-8");
    res->body() = std::move(r.body);
    if (server_->closing || !server_->accepting)
      keep_alive_ = false;
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    stream_.expires_after(server_->opts.idle_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        self->server_->end_request();
                        if (ec || !self->keep_alive_)
                          return self->shutdown();
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

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http_server::impl* server_; // outlives every session (stop() joins the io threads)
  bool keep_alive_ = true;
  asio::steady_timer deadline_;
  std::uint64_t serial_ = 0;   // the request being handled
  std::uint64_t answered_ = 0; // the last request answered
  std::string method_, path_;
  std::string_view route_ = "unmatched"; // a route template (static) for metrics
  std::chrono::steady_clock::time_point started_;
};

void http_server::impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (!accepting)
      return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      auto s = std::make_shared<session>(std::move(socket), this);
      {
        std::lock_guard guard{mutex};
        for (auto it = sessions.begin(); it != sessions.end();)
          it = it->expired() ? sessions.erase(it) : std::next(it);
        sessions.insert(s);
      }
      s->run();
    }
    accept();
  });
}

http_server::http_server(http_server_options opts, dispatcher d)
    : impl_(std::make_shared<impl>()) {
  impl_->opts = std::move(opts);
  impl_->dispatch = std::move(d);
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
  s.accepting = true;
  s.work.emplace(s.ioc.get_executor());
  s.accept();
  for (int i = 0; i < s.opts.io_threads; ++i)
    s.threads.emplace_back([&s] { s.ioc.run(); });
  auto bound = s.acceptor.local_endpoint();
  auto host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                      : bound.address().to_string();
  return host + ":" + std::to_string(bound.port());
}

void http_server::stop_accepting() {
  auto& s = *impl_;
  if (!s.accepting.exchange(false))
    return;
  asio::post(s.ioc, [&s] {
    beast::error_code ec;
    s.acceptor.close(ec);
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

std::size_t http_server::in_flight() const {
  std::lock_guard guard{impl_->mutex};
  return impl_->active;
}

void http_server::stop() {
  auto& s = *impl_;
  if (s.closing.exchange(true))
    return;
  stop_accepting();
  {
    std::lock_guard guard{s.mutex};
    for (auto& weak : s.sessions)
      if (auto sp = weak.lock())
        sp->close();
    for (auto& weak : s.streams)
      if (auto sp = weak.lock())
        sp->disconnect("the server is shutting down");
  }
  s.work.reset();
  s.ioc.stop();
  for (auto& t : s.threads)
    if (t.joinable())
      t.join();
}

} // namespace troupe::gateway
