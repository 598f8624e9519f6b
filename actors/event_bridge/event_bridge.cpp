#include "actors/event_bridge/event_bridge.hpp"

#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/input.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"
#include "runtime/store.hpp"
#include "text/ascii.hpp"

#include <nlohmann/json.hpp>
#include <charconv>
#include <optional>
#include <unordered_map>
#include <pqxx/pqxx>
#include <vector>

namespace troupe::event_bridge {
namespace {

using json = nlohmann::json;

// While a gap may still fill, the bridge reads again this soon: the
// transaction holding it is usually a few milliseconds from its commit, and
// later events wait behind it.
constexpr std::chrono::milliseconds gap_recheck{10};
// While a subscriber catches up from the log, it is looked at again this
// soon: its queue drains faster than the poll interval.
constexpr std::chrono::milliseconds catch_up_recheck{20};

constexpr const char* event_columns =
    "SELECT id, topic, coalesce(user_id::text, ''), coalesce(playbook_id::text, ''),"
    " coalesce(job_id::text, ''), data::text,"
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM events ";

// An event from event_columns, which start at column `at` of the row.
event_ptr frame_of(const pqxx::row& r, pqxx::row::size_type at = 0) {
  auto e = std::make_shared<event_frame>();
  e->id = r[at].as<std::int64_t>();
  e->topic = r[at + 1].c_str();
  e->user_id = r[at + 2].c_str();
  e->playbook_id = r[at + 3].c_str();
  e->job_id = r[at + 4].c_str();
  auto id = std::to_string(e->id);
  // The data is jsonb's own text (one line); only the topic needs quoting.
  e->json = "{\"id\":" + id + ",\"topic\":" + json(e->topic).dump() + ",\"at\":\"" +
            r[at + 6].c_str() + "\",\"data\":" + r[at + 5].c_str() + "}";
  e->sse = "id: " + id + "\nevent: " + e->topic + "\ndata: " + e->json + "\n\n";
  return e;
}

// What one tail pass read, all under one snapshot: its horizon (every
// transaction below xmin had ended), the events after the cursor, and, when
// asked for, a bound: a transaction id assigned after the snapshot was taken,
// so above every transaction id assigned before it.
struct tail_read {
  std::int64_t newest = 0; // the first pass only reads where live delivery starts
  std::uint64_t xmin = 0;
  std::optional<std::uint64_t> bound;
  std::vector<event_ptr> events;
};

// One statement, one round trip: the snapshot's horizon and the bound on
// every row (one row of NULL event columns when nothing is new). The bound
// costs a transaction id, so it is taken only while a gap waits for one.
tail_read read_tail(pqxx::connection& conn, std::int64_t cursor, int batch, bool bound) {
  static const runtime::statement sql{
      "SELECT pg_snapshot_xmin(s.snap)::text,"
      " CASE WHEN $3::boolean THEN pg_current_xact_id()::text END, e.* FROM"
      " (SELECT pg_current_snapshot() AS snap) s LEFT JOIN LATERAL (" +
      std::string{event_columns} + "WHERE id > $1 ORDER BY id LIMIT $2) e ON true"};
  tail_read out;
  pqxx::nontransaction tx{conn};
  auto rows = sql(tx, cursor, batch, bound);
  out.xmin = std::stoull(rows[0][0].c_str());
  if (!rows[0][1].is_null())
    out.bound = std::stoull(rows[0][1].c_str());
  out.events.reserve(rows.size());
  for (const auto& r : rows)
    if (!r[2].is_null())
      out.events.push_back(frame_of(r, 2));
  return out;
}

// Where live delivery starts: the newest event at start-up, and a bound for
// the transactions that may still commit events below it.
tail_read read_start(pqxx::connection& conn) {
  pqxx::nontransaction tx{conn};
  auto row = tx.exec("SELECT coalesce(max(id), 0), pg_current_xact_id()::text FROM events")[0];
  tail_read out;
  out.newest = row[0].as<std::int64_t>();
  out.bound = std::stoull(row[1].c_str());
  return out;
}

std::vector<event_ptr> read_replay(pqxx::connection& conn, const subscription& sub,
                                   std::int64_t after, std::int64_t upto, int batch) {
  pqxx::read_transaction tx{conn};
  auto rows = tx.exec_params(std::string{event_columns} +
                                 "WHERE user_id = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4",
                             sub.user_id, after, upto, batch);
  std::vector<event_ptr> out;
  out.reserve(rows.size());
  for (const auto& r : rows)
    out.push_back(frame_of(r));
  return out;
}

// A subscriber is live (offered each event as it is published) or catching
// up (reading the log page by page from `position`): after it subscribed
// with ?after=, or when its queue reached the buffer. Catching up waits
// while the queue is over half the buffer; a subscriber whose queue does not
// move for stall_timeout is disconnected. So a reader that is merely slower
// than a burst is never dropped, one that stopped reading is, and neither
// holds up the bridge or anybody else.
struct subscriber {
  subscription sub;
  sink_ptr sink;
  std::int64_t position = 0;    // every event up to this id was offered or did not match
  bool catching_up = false;
  bool reading = false;         // a page of the log is being read for it
  std::uint64_t written_seen = 0;
  std::chrono::steady_clock::time_point waiting_since{};
  bool gone = false;            // unsubscribed or closed; dropped from the lists at the next sweep
};

using subscriber_ptr = std::shared_ptr<subscriber>;

struct bridge_state {
  std::int64_t cursor = -1; // last event published; -1 until the start position is read
  struct gap {
    std::int64_t below;                 // the first id seen after the gap
    std::optional<std::uint64_t> bound; // every transaction that could fill it has an xid below this
  };
  std::optional<gap> hole;
  bool tailing = false;
  bool again = false;
  std::vector<subscriber_ptr> subscribers;
  // Subscribed before the start was final: before the start position was
  // read, or before every transaction that could still commit an event below
  // it had ended (start_bound; a subscriber resuming from the log must not
  // read past an event that commits later).
  std::vector<subscriber_ptr> waiting;
  std::optional<std::uint64_t> start_bound;
  // Who an event is offered to: its user's subscribers under its topic (a
  // subscriber with a topic filter is listed under each of its topics, one
  // without under ""). Everybody else is never looked at, so a node holding
  // many idle or other users' streams pays nothing for them per event.
  std::unordered_map<std::string, std::unordered_map<std::string, std::vector<subscriber_ptr>>>
      routes;
  std::size_t gone = 0; // subscribers marked gone, still listed
  static inline const char* name = "troupe.event_bridge";
};

using bridge_pointer = event_bridge_actor::stateful_pointer<bridge_state>;

void catch_up(bridge_pointer self, const store_actor& store, const bridge_options& opts,
              const subscriber_ptr& s);

// Offers a live event; false when the subscriber is gone.
bool deliver(const subscriber_ptr& s, const event_ptr& e, const bridge_options& opts) {
  if (s->sink->closed())
    return false;
  if (s->catching_up || e->id <= s->position)
    return true;
  if (!s->sub.matches(*e)) {
    s->position = e->id;
    return true;
  }
  if (s->sink->backlog() >= opts.buffer) {
    s->catching_up = true; // from position, once the queue has drained
    return true;
  }
  s->position = e->id;
  return s->sink->offer(e);
}

void publish(bridge_pointer self, const event_ptr& e, const bridge_options& opts) {
  auto& st = self->state;
  auto user = st.routes.find(e->user_id);
  if (user == st.routes.end())
    return;
  for (const std::string& topic : {e->topic, std::string{}}) {
    auto listed = user->second.find(topic);
    if (listed == user->second.end())
      continue;
    for (const auto& s : listed->second)
      if (!s->gone && !deliver(s, e, opts)) {
        s->gone = true;
        ++st.gone;
      }
  }
}

void add_route(bridge_state& st, const subscriber_ptr& s) {
  auto& by_topic = st.routes[s->sub.user_id];
  if (s->sub.topics.empty())
    by_topic[""].push_back(s);
  for (const auto& topic : s->sub.topics)
    by_topic[topic].push_back(s);
}

// Drops the subscribers marked gone from every list.
void sweep(bridge_state& st) {
  if (st.gone == 0)
    return;
  auto is_gone = [](const subscriber_ptr& s) { return s->gone; };
  std::erase_if(st.subscribers, is_gone);
  std::erase_if(st.waiting, is_gone);
  for (auto user = st.routes.begin(); user != st.routes.end();) {
    for (auto listed = user->second.begin(); listed != user->second.end();) {
      std::erase_if(listed->second, is_gone);
      listed = listed->second.empty() ? user->second.erase(listed) : std::next(listed);
    }
    user = user->second.empty() ? st.routes.erase(user) : std::next(user);
  }
  st.gone = 0;
}

// True when the subscriber may be offered more now; disconnects one that
// stopped reading.
bool ready_for_more(const subscriber_ptr& s, const bridge_options& opts) {
  auto now = std::chrono::steady_clock::now();
  if (s->sink->backlog() < opts.buffer / 2) {
    s->waiting_since = {};
    return true;
  }
  auto written = s->sink->written();
  if (s->waiting_since == std::chrono::steady_clock::time_point{} || written != s->written_seen) {
    s->waiting_since = now;
    s->written_seen = written;
  } else if (now - s->waiting_since >= opts.stall_timeout) {
    if (!s->sink->closed())
      metrics::event_subscriber_dropped("stalled");
    s->sink->disconnect("stopped reading: nothing written for " +
                        std::to_string(opts.stall_timeout.count()) + " ms with " +
                        std::to_string(s->sink->backlog()) + " events queued");
  }
  return false;
}

void catch_up(bridge_pointer self, const store_actor& store, const bridge_options& opts,
              const subscriber_ptr& s) {
  if (s->reading || !s->catching_up || s->sink->closed())
    return;
  if (!ready_for_more(s, opts))
    return; // the next tail pass or poll looks again
  auto& st = self->state;
  if (s->position >= st.cursor) {
    s->catching_up = false;
    return;
  }
  s->reading = true;
  auto sub = s->sub;
  auto after = s->position;
  auto upto = st.cursor;
  int batch = opts.batch;
  runtime::store_call(
      self, store, "events-catch-up",
      [sub, after, upto, batch](pqxx::connection& c) { return read_replay(c, sub, after, upto, batch); },
      [=](std::vector<event_ptr> page) {
        s->reading = false;
        bool cut = false;
        for (const auto& e : page) {
          if (s->sub.matches(*e)) {
            if (s->sink->backlog() >= opts.buffer) {
              cut = true;
              break;
            }
            if (!s->sink->offer(e))
              return;
          }
          s->position = e->id;
        }
        if (!cut && page.size() < static_cast<std::size_t>(batch))
          s->position = std::max(s->position, upto); // the rest up to `upto` is not this user's
        if (s->position >= self->state.cursor)
          s->catching_up = false; // live from here: the next publish is past the cursor
        else
          catch_up(self, store, opts, s);
      },
      [=](caf::error&) { s->reading = false; }); // tried again on the next pass
}

void attach(bridge_pointer self, const store_actor& store, const bridge_options& opts,
            const subscriber_ptr& s) {
  auto& st = self->state;
  s->position = st.cursor;
  if (s->sub.after >= 0 && s->sub.after < st.cursor) {
    s->position = s->sub.after;
    s->catching_up = true;
  }
  st.subscribers.push_back(s);
  add_route(st, s);
  catch_up(self, store, opts, s);
}

// Applies one tail pass: publishes in id order up to the first gap that may
// still fill, then lets lagging subscribers catch up.
void apply(bridge_pointer self, const store_actor& store, const bridge_options& opts,
           const tail_read& read) {
  auto& st = self->state;
  if (st.start_bound && *st.start_bound <= read.xmin) {
    st.start_bound.reset();
    for (const auto& s : st.waiting)
      if (!s->gone)
        attach(self, store, opts, s);
    st.waiting.clear();
  } else if (st.start_bound) {
    metrics::event_gap_waited(); // subscribers wait for what may commit below the start
  }
  auto allowed = st.cursor + 1;
  if (st.hole && st.hole->bound && *st.hole->bound <= read.xmin) {
    // Every transaction that could have filled the gap has ended and what
    // committed was read above: the rest of the gap rolled back.
    allowed = std::max(allowed, st.hole->below);
    st.hole.reset();
  } else if (st.hole && !st.hole->bound) {
    st.hole->bound = read.bound; // taken after the pass that saw the gap
  }
  for (const auto& e : read.events) {
    if (e->id > allowed) {
      metrics::event_gap_waited();
      // A bound of this pass was taken after this snapshot, which already
      // shows the event after the gap: it covers this gap too.
      if (!st.hole || st.hole->below <= st.cursor)
        st.hole = bridge_state::gap{e->id, read.bound};
      break;
    }
    publish(self, e, opts);
    st.cursor = e->id;
    allowed = st.cursor + 1;
  }
  if (read.events.size() >= static_cast<std::size_t>(opts.batch))
    st.again = true; // more to read at once
  else if (st.hole || st.start_bound)
    self->delayed_send(self, gap_recheck, tail_atom::value);
  sweep(st);
  bool behind = false;
  for (const auto& s : st.subscribers) {
    catch_up(self, store, opts, s);
    behind = behind || (s->catching_up && !s->reading);
  }
  if (behind) // look again soon: queues drain faster than the poll
    self->delayed_send(self, catch_up_recheck, tail_atom::value);
}

void tail(bridge_pointer self, const store_actor& store, const bridge_options& opts) {
  auto& st = self->state;
  if (st.tailing) {
    st.again = true;
    return;
  }
  st.again = false;
  sweep(st);
  if (st.subscribers.empty() && st.waiting.empty()) {
    // Nobody listens here: reading the log would be wasted work on every
    // commit. The next subscriber starts from the newest event then, as a
    // subscriber does at start-up; ?after= replays from the log either way.
    st.cursor = -1;
    st.hole.reset();
    st.start_bound.reset();
    return;
  }
  st.tailing = true;
  auto cursor = st.cursor;
  int batch = opts.batch;
  bool bound = st.hole && !st.hole->bound && st.hole->below > st.cursor;
  auto read = [cursor, batch, bound](pqxx::connection& c) {
    return cursor < 0 ? read_start(c) : read_tail(c, cursor, batch, bound);
  };
  runtime::store_call(
      self, store, "events-tail", std::move(read),
      [=](tail_read read) {
        auto& st = self->state;
        st.tailing = false;
        if (st.cursor < 0) {
          // Live delivery starts after the newest event at start-up; the
          // waiting subscribers are attached once no transaction that could
          // commit an event below it is left (the next passes).
          st.cursor = read.newest;
          st.start_bound = read.bound;
          for (const auto& s : st.waiting)
            if (s->sub.after < 0)
              s->sub.after = st.cursor;
          self->delayed_send(self, gap_recheck, tail_atom::value);
        } else {
          apply(self, store, opts, read);
        }
        if (st.again)
          tail(self, store, opts);
      },
      [=](caf::error&) {
        auto& st = self->state;
        st.tailing = false;
        if (st.again)
          tail(self, store, opts);
      });
}

event_bridge_actor::behavior_type bridge(bridge_pointer self, store_actor store,
                                         bridge_options opts) {
  return {
      [=](subscribe_atom, subscription& sub, sink_ptr& sink) {
        auto s = std::make_shared<subscriber>();
        s->sub = std::move(sub);
        s->sink = std::move(sink);
        auto& st = self->state;
        if (st.cursor < 0) {
          st.waiting.push_back(s);
          tail(self, store, opts); // reads the start position now, not at the next poll
        } else if (st.start_bound) {
          if (s->sub.after < 0)
            s->sub.after = st.cursor;
          st.waiting.push_back(s);
        } else
          attach(self, store, opts, s);
      },
      [=](unsubscribe_atom, sink_ptr& sink) {
        // Marked now (nothing is offered to it again), dropped from the lists
        // at the next pass, or at once when many are waiting for one: a node
        // whose streams all close at once sweeps a few times, not per stream.
        auto& st = self->state;
        for (auto* list : {&st.subscribers, &st.waiting})
          for (const auto& s : *list)
            if (s->sink == sink && !s->gone) {
              s->gone = true;
              ++st.gone;
            }
        if (st.gone > 1024)
          sweep(st);
      },
      [=](tail_atom) { tail(self, store, opts); },
  };
}

// The poll, as a separate ticker so that its period does not depend on
// wake-ups: it catches what no wake-up announced (other nodes, the scheduler).
struct ticker_state {
  static inline const char* name = "troupe.event_bridge.ticker";
};

caf::behavior ticker(caf::stateful_actor<ticker_state>* self, event_bridge_actor bridge,
                     std::chrono::milliseconds period) {
  self->send(self, tail_atom::value);
  return {
      [=](tail_atom) {
        self->send(bridge, tail_atom::value);
        self->delayed_send(self, period, tail_atom::value);
      },
  };
}

// ---- the subscription ------------------------------------------------------------

} // namespace

subscription read_subscription(const api_request& req) {
  subscription sub;
  sub.user_id = req.caller.user_id;
  auto q = [&](const char* key) -> const std::string* {
    auto it = req.query.find(key);
    return it == req.query.end() ? nullptr : &it->second;
  };
  for (const auto& [key, value] : req.query)
    if (key != "topics" && key != "playbook_id" && key != "job_id" && key != "after")
      throw invalid_argument(key, "unknown query parameter " + key +
                                      " (use topics, playbook_id, job_id, after)");
  if (auto topics = q("topics")) {
    std::size_t start = 0;
    while (start <= topics->size()) {
      auto comma = std::min(topics->find(',', start), topics->size());
      auto topic = topics->substr(start, comma - start);
      if (!topic.empty()) {
        if (!known_topics().count(topic))
          throw invalid_argument("topics", "unknown topic \"" + topic.substr(0, 64) + "\"");
        sub.topics.insert(topic);
      }
      start = comma + 1;
    }
  }
  for (auto [key, field] : {std::pair{"playbook_id", &sub.playbook_id},
                            std::pair{"job_id", &sub.job_id}})
    if (auto v = q(key)) {
      if (!crypto::is_uuid(*v))
        throw invalid_argument(key, std::string(key) + " must be a UUID");
      *field = text::lower(*v);
    }
  const std::string* after = q("after");
  auto last = req.headers.find("last-event-id");
  if (!after && last != req.headers.end())
    after = &last->second;
  if (after) {
    std::int64_t n = -1;
    auto [end, ec] = std::from_chars(after->data(), after->data() + after->size(), n);
    if (ec != std::errc{} || end != after->data() + after->size() || n < 0)
      throw invalid_argument("after", "after (or Last-Event-ID) must be a non-negative event id");
    sub.after = n;
  }
  return sub;
}

const std::set<std::string>& known_topics() {
  static const std::set<std::string> topics = {
      "outcome.recorded", "evolution.queued",  "job.started",        "job.progress",
      "job.completed",    "job.failed",        "job.retrying",       "job.cancelled",
      "playbook.version_created", "critique.queued", "critique.iteration",
      "repository.queued", "repository.analyzed", "node.joined", "node.left"};
  return topics;
}

event_bridge_actor spawn_event_bridge(caf::actor_system& sys, store_actor store,
                                      bridge_options opts) {
  auto b = sys.spawn(bridge, std::move(store), opts);
  auto t = sys.spawn(ticker, b, opts.poll_interval);
  // The ticker lives as long as the bridge.
  b->attach_functor([t](const caf::error&) { caf::anon_send_exit(t, caf::exit_reason::user_shutdown); });
  return b;
}

} // namespace troupe::event_bridge
