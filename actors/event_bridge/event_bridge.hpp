// The event bridge (docs/events.md): tails the events table (the outbox every
// domain transaction writes its events into) in id order and fans each event
// out to the subscribed streams whose filters and user match.
//
//   store worker committed events ──tail_atom──► bridge ──db_call──► store (read id > cursor)
//   poll timer ─────────────────────tail_atom──┘   │
//   GET /v1/events[/ws] ─► gateway: read_subscription ─► hands the connection
//        to a stream ──subscribe_atom──► bridge ──replay (id > after)──► sink
//                                               └─live events──────────► sink.offer()
//   the stream's connection closed ──unsubscribe_atom──► bridge forgets the sink at once
//
// Ids are allocated before commit, so a later id can commit first: the
// bridge never delivers past a gap until every transaction that could still
// fill it has ended (Postgres' snapshot xmin passed it), then skips what
// rolled back. Delivery is therefore in id order with nothing skipped that
// committed, which is what makes resume by id exact.
#pragma once

#include "messages/api.hpp"
#include "messages/events.hpp"
#include "runtime/store.hpp"

#include <chrono>

namespace troupe::event_bridge {

struct bridge_options {
  std::chrono::milliseconds poll_interval{250}; // tail at least this often
  int batch = 2000;                             // events read per statement
  std::size_t buffer = 10000; // events queued per subscriber before it catches up from the log
  std::chrono::milliseconds stall_timeout{10000}; // a full queue that does not move: disconnected
};

event_bridge_actor spawn_event_bridge(caf::actor_system& sys, store_actor store,
                                      bridge_options opts);

// The subscription GET /v1/events[/ws] asks for: the caller's events,
// filtered by the query (topics, playbook_id, job_id; after, or SSE's
// Last-Event-ID). Throws api_error naming the parameter for anything else.
// Pure: the gateway reads it and hands the connection to a stream.
subscription read_subscription(const api_request& req);

// The topics a subscriber may ask for.
const std::set<std::string>& known_topics();

} // namespace troupe::event_bridge
