// The event path's node-local types: an event as the bridge fans it out, a
// subscription, and the sink a stream (SSE or WebSocket connection) offers
// to the bridge. None of these crosses nodes.
//
//   domain txn ─► events table (outbox) ─► event bridge tails it ─► sink.offer()
//                                                                     └─► io thread writes
#pragma once

#include <caf/all.hpp>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

namespace troupe {

// One event, serialized once for every subscriber that receives it.
struct event_frame {
  std::int64_t id = 0;
  std::string topic;
  std::string user_id; // "" for events of no user (delivered to nobody)
  std::string playbook_id;
  std::string job_id;
  std::string json; // {"id", "topic", "at", "data"}: a WebSocket message
  std::string sse;  // "id: …\nevent: …\ndata: …\n\n"
};

using event_ptr = std::shared_ptr<const event_frame>;

// What a subscriber asked for. Empty filters match everything of the user.
struct subscription {
  std::string user_id;
  std::set<std::string> topics;
  std::string playbook_id;
  std::string job_id;
  std::int64_t after = -1; // replay events with id > after; -1: live only

  bool matches(const event_frame& e) const {
    return !e.user_id.empty() && e.user_id == user_id &&
           (topics.empty() || topics.count(e.topic)) &&
           (playbook_id.empty() || e.playbook_id == playbook_id) &&
           (job_id.empty() || e.job_id == job_id);
  }
};

// A connection's side of a subscription. Thread-safe; offer() never blocks.
class subscriber_sink {
public:
  virtual ~subscriber_sink() = default;
  // Queues an event for writing. False when the connection is gone: the
  // bridge drops it. (The bridge keeps the queue bounded itself, by looking
  // at backlog() before offering; a queue twice the bound closes the stream.)
  virtual bool offer(const event_ptr& e) = 0;
  // Events queued and not yet handed to the socket.
  virtual std::size_t backlog() const = 0;
  // Events written to the socket so far: progress, to tell a slow reader from
  // one that stopped.
  virtual std::uint64_t written() const = 0;
  // The connection closed (or is closing); the bridge forgets it.
  virtual bool closed() const = 0;
  // Closes the connection (the node drains, or the bridge gave up on it).
  virtual void disconnect(const std::string& reason) = 0;
};

using sink_ptr = std::shared_ptr<subscriber_sink>;

using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using tail_atom = caf::atom_constant<caf::atom("tail")>;
using unsubscribe_atom = caf::atom_constant<caf::atom("unsubscrib")>;

// The event bridge (actors/event_bridge): `subscribe` a sink to what a
// subscription asks for (replaying from `after`), `unsubscribe` it at once
// when its connection closes, and `tail` when events may have committed
// (the store's in-process wake-up; a timer polls as a back-up).
using event_bridge_actor =
    caf::typed_actor<caf::reacts_to<subscribe_atom, subscription, sink_ptr>,
                     caf::reacts_to<unsubscribe_atom, sink_ptr>, caf::reacts_to<tail_atom>>;

} // namespace troupe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::subscription)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::sink_ptr)
