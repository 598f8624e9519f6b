#include "runtime/listener.hpp"

#include "runtime/log.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

namespace troupe::runtime {

struct notification_listener::impl {
  std::string conninfo;
  std::vector<channel_handler> channels;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable cv;
  std::thread thread;

  struct receiver : pqxx::notification_receiver {
    receiver(pqxx::connection_base& c, channel_handler& h)
        : pqxx::notification_receiver(c, h.channel), handler(h) {}
    void operator()(const std::string& payload, int) override { handler.on_notify(payload, false); }
    channel_handler& handler;
  };

  void pause(std::chrono::milliseconds d) {
    std::unique_lock lock{mutex};
    cv.wait_for(lock, d, [this] { return stopping.load(); });
  }

  // Reconnect back-off: short at first (a restart of Postgres takes about
  // a second), capped so a long outage costs one attempt per 5 s; polling
  // and cache lifetimes cover the gap.
  static constexpr std::chrono::milliseconds first_backoff{100};
  static constexpr std::chrono::milliseconds max_backoff{5000};
  // How long one wait for a notification lasts before `stopping` is looked at.
  static constexpr long wait_us = 200000;

  void run() {
    auto backoff = first_backoff;
    while (!stopping) {
      try {
        pqxx::connection conn{conninfo};
        std::vector<std::unique_ptr<receiver>> receivers;
        for (auto& h : channels)
          receivers.push_back(std::make_unique<receiver>(conn, h));
        backoff = first_backoff;
        for (auto& h : channels)
          h.on_notify("", true);
        while (!stopping)
          conn.await_notification(0, wait_us);
      } catch (const std::exception& e) {
        if (stopping)
          break;
        log::debug("notification listener reconnecting", {{"error", e.what()}});
        pause(backoff);
        backoff = std::min(backoff * 2, max_backoff);
      }
    }
  }
};

notification_listener::notification_listener(std::string connection_string,
                                             std::vector<channel_handler> channels)
    : impl_(std::make_unique<impl>()) {
  impl_->conninfo = std::move(connection_string);
  impl_->channels = std::move(channels);
  impl_->thread = std::thread([this] { impl_->run(); });
}

notification_listener::~notification_listener() {
  impl_->stopping = true;
  impl_->cv.notify_all();
  if (impl_->thread.joinable())
    impl_->thread.join();
}

} // namespace troupe::runtime
