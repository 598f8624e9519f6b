// LISTEN on a connection of its own: job runners' wake-ups (troupe_jobs) and
// credential revocations (troupe_auth) reach every node through Postgres,
// whichever node or command wrote them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace troupe::runtime {

struct channel_handler {
  std::string channel;
  // Called on the listener's thread with each notification's payload, and
  // with `missed = true` after every (re)connect: notifications sent while
  // the listener was away are lost, so the handler acts as if it missed any.
  std::function<void(const std::string& payload, bool missed)> on_notify;
};

// Reconnects with back-off; the destructor stops and joins the thread.
class notification_listener {
public:
  notification_listener(std::string connection_string, std::vector<channel_handler> channels);
  ~notification_listener();

  notification_listener(const notification_listener&) = delete;
  notification_listener& operator=(const notification_listener&) = delete;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::runtime
