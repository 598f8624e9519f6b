// The layer under an event stream's WebSocket that turns a batch of messages
// into one socket write.
//
//   websocket::stream<coalescing_stream> ──► coalescing_stream ──► tcp_stream
//
// While corked, event messages are framed straight into a buffer
// (append_text: a server's unmasked, unfragmented text frame, RFC 6455 5.2),
// and so is anything the WebSocket itself writes meanwhile; uncork() sends the
// buffer with one write and calls back when it is out. A batch of N events
// costs one syscall and no WebSocket write operation per event, and the
// client reads them from a few TCP segments. (No extension is negotiated, so
// a frame is just a header and the payload.)
//
// Every write to the socket goes through one queue, one at a time: the
// corked buffer when uncork() hands it over, and what the WebSocket writes
// while not corked (its handshake answer, pings, pongs, close frames), each
// of which completes once it is out, so those keep their back-pressure.
// Frames never interleave. Reads pass through. Everything runs on the
// stream's strand.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::gateway {

class coalescing_stream {
public:
  using executor_type = boost::beast::tcp_stream::executor_type;
  using next_layer_type = boost::beast::tcp_stream;

  explicit coalescing_stream(boost::beast::tcp_stream next) : next_(std::move(next)) {}

  executor_type get_executor() noexcept { return next_.get_executor(); }
  next_layer_type& next_layer() noexcept { return next_; }

  // Bytes buffered while corked and not yet handed to the socket.
  std::size_t buffered() const noexcept { return buffer_.size(); }

  void cork() {
    corked_ = true;
    buffer_.reserve(flush_bytes + 1024);
  }

  // While corked: one text message, framed.
  void append_text(std::string_view payload) {
    char head[10];
    std::size_t h = 2;
    head[0] = static_cast<char>(0x81); // FIN, text
    auto n = payload.size();
    if (n < 126) {
      head[1] = static_cast<char>(n);
    } else if (n <= 0xFFFF) {
      head[1] = 126;
      head[2] = static_cast<char>(n >> 8);
      head[3] = static_cast<char>(n & 0xFF);
      h = 4;
    } else {
      head[1] = 127;
      for (int i = 0; i < 8; ++i)
        head[2 + i] = static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * (7 - i))) & 0xFF);
      h = 10;
    }
    buffer_.append(head, h);
    buffer_.append(payload);
  }

  // How much a corked batch gathers before it is sent.
  static constexpr std::size_t flush_bytes = 64 * 1024;

  // Queues what was buffered while corked (possibly nothing) for the socket;
  // `done(error_code)` runs once it is out.
  template <class Handler>
  void uncork(Handler done) {
    corked_ = false;
    push(std::exchange(buffer_, std::string{}),
         std::make_unique<completion<Handler>>(std::move(done)));
  }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return next_.async_read_some(buffers, std::forward<Token>(token));
  }

  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          auto n = boost::asio::buffer_size(b);
          std::string bytes(n, '\0');
          boost::asio::buffer_copy(boost::asio::buffer(bytes), b);
          if (corked_) { // goes out with the batch, in order
            buffer_ += bytes;
            auto ex = boost::asio::get_associated_executor(handler, get_executor());
            boost::asio::post(ex, boost::beast::bind_front_handler(std::move(handler),
                                                                  boost::beast::error_code{}, n));
            return;
          }
          push(std::move(bytes),
               std::make_unique<write_completion<decltype(handler)>>(std::move(handler)));
        },
        token, buffers);
  }

private:
  // What runs once a queued write is out.
  struct done_base {
    virtual ~done_base() = default;
    virtual void operator()(boost::beast::error_code ec, std::size_t n) = 0;
  };
  template <class Handler>
  struct completion final : done_base { // uncork's
    explicit completion(Handler h) : handler(std::move(h)) {}
    void operator()(boost::beast::error_code ec, std::size_t) override { handler(ec); }
    Handler handler;
  };
  template <class Handler>
  struct write_completion final : done_base { // a WebSocket write's
    explicit write_completion(Handler h) : handler(std::move(h)) {}
    void operator()(boost::beast::error_code ec, std::size_t n) override {
      std::move(handler)(ec, n);
    }
    Handler handler;
  };

  struct queued {
    std::string bytes;
    std::unique_ptr<done_base> done;
  };

  void push(std::string bytes, std::unique_ptr<done_base> done) {
    queue_.push_back({std::move(bytes), std::move(done)});
    next_write();
  }

  void next_write() {
    if (writing_ || queue_.empty())
      return;
    writing_ = true;
    auto w = std::make_shared<queued>(std::move(queue_.front()));
    queue_.erase(queue_.begin()); // rarely more than one: the WebSocket writes one at a time
    boost::asio::async_write(next_, boost::asio::buffer(w->bytes),
                             [this, w](boost::beast::error_code ec, std::size_t n) {
                               writing_ = false;
                               (*w->done)(ec, n);
                               next_write();
                             });
  }

  boost::beast::tcp_stream next_;
  std::string buffer_;
  bool corked_ = false;
  bool writing_ = false;
  std::vector<queued> queue_; // (a deque would allocate ~600 bytes per idle stream)
};

// The WebSocket's close handshake ends here: tear the socket down below.
inline void teardown(boost::beast::role_type role, coalescing_stream& s,
                     boost::beast::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, s.next_layer(), ec);
}

template <class Handler>
void async_teardown(boost::beast::role_type role, coalescing_stream& s, Handler&& handler) {
  using boost::beast::websocket::async_teardown;
  async_teardown(role, s.next_layer(), std::forward<Handler>(handler));
}

} // namespace troupe::gateway
