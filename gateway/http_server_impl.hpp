// Internals of the HTTP server shared by its sessions (http_server.cpp) and
// its event streams (event_stream.cpp). Not part of the server's interface.
#pragma once

#include "gateway/event_stream.hpp"
#include "gateway/http_server.hpp"
#include "runtime/metrics.hpp"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace troupe::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

class session;

// How long a closing connection may take to say goodbye (a WebSocket close
// frame, a refusal's 503) before it is cut.
inline constexpr auto goodbye_timeout = std::chrono::seconds{2};

// An open client connection, counted against server.max_connections. It
// moves with the socket from a session to the event stream it becomes.
class connection_slot {
public:
  explicit connection_slot(std::shared_ptr<std::atomic<std::size_t>> count)
      : count_(std::move(count)) {
    ++*count_;
    metrics::http_connections(1);
  }
  ~connection_slot() {
    --*count_;
    metrics::http_connections(-1);
  }
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;

private:
  std::shared_ptr<std::atomic<std::size_t>> count_;
};

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
  http_server_options opts;
  std::vector<asio::ip::address> trusted_proxies;
  dispatcher dispatch;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  // The acceptor, its back-off timer and stop_accepting() share one strand.
  asio::strand<asio::io_context::executor_type> accept_strand{ioc.get_executor()};
  tcp::acceptor acceptor{accept_strand};
  asio::steady_timer accept_timer{accept_strand};
  std::chrono::milliseconds accept_backoff{0}; // io threads, one accept at a time
  int spare_fd = -1; // kept open to refuse one connection when out of descriptors
  std::vector<std::thread> threads;
  std::atomic<bool> accepting{false};
  std::atomic<bool> closing{false};
  std::shared_ptr<std::atomic<std::size_t>> connections =
      std::make_shared<std::atomic<std::size_t>>(0);
  // Refusals being written; shared, since one may outlive the server in ~io_context.
  std::shared_ptr<std::atomic<std::size_t>> refusals =
      std::make_shared<std::atomic<std::size_t>>(0);
  // Large bodies (http_server_options::max_large_bodies) being read or answered.
  std::shared_ptr<std::atomic<std::size_t>> large_bodies =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::mutex mutex;
  std::condition_variable idle_cv;
  std::size_t active = 0;          // guarded by mutex
  std::size_t running_threads = 0; // guarded by mutex
  std::set<std::weak_ptr<session>, std::owner_less<std::weak_ptr<session>>> sessions;
  std::set<std::weak_ptr<event_stream>, std::owner_less<std::weak_ptr<event_stream>>> streams;
  std::map<std::string, std::size_t> streams_by_user; // guarded by mutex
  std::size_t stream_count = 0;                        // guarded by mutex

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
  void on_accept_error(const beast::error_code& ec);
  void admit(tcp::socket socket);
  void refuse(tcp::socket socket);
  void refuse_with_spare_descriptor();

  // Takes a stream slot for `user`: "" when granted, else "user" or "node"
  // for the limit that was reached.
  std::string_view take_stream_slot(const std::string& user) {
    std::lock_guard guard{mutex};
    if (stream_count >= opts.max_streams)
      return "node";
    auto& mine = streams_by_user[user];
    if (mine >= opts.max_streams_per_user) {
      if (mine == 0)
        streams_by_user.erase(user);
      return "user";
    }
    ++mine;
    ++stream_count;
    return "";
  }
  void release_stream_slot(const std::string& user) {
    std::lock_guard guard{mutex};
    --stream_count;
    if (auto it = streams_by_user.find(user); it != streams_by_user.end() && --it->second == 0)
      streams_by_user.erase(it);
  }
};

} // namespace troupe::gateway
