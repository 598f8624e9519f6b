#include "actors/ingestion/ingestion.hpp"

#include "actors/ingestion/outcome_rules.hpp"
#include "actors/ingestion/portability.hpp"
#include "actors/playbooks/playbooks.hpp"
#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/input.hpp"
#include "runtime/job_lifecycle.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"
#include "runtime/store.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>

namespace troupe::ingestion {
namespace {

using json = nlohmann::json;

// One POST waiting for its batch. `response` is filled by the batch writer.
struct queued_outcome {
  outcome_input in;
  std::string request_id;
  std::function<void(api_response)> deliver; // the promise, or a direct request's reply
  api_response response;
};

using batch = std::vector<queued_outcome>;

struct locked_playbook {
  std::string user_id;
  std::string status;
  playbook_state state;
  std::string active_job_id;
};

// The batch's playbooks, as one uuid[] parameter.
std::string playbook_ids(const batch& b) {
  std::set<std::string> ids;
  for (const auto& q : b)
    ids.insert(q.in.playbook_id);
  runtime::array_literal out;
  for (const auto& id : ids)
    out.bare(id);
  return out.str();
}

// The batch's idempotency keys with their playbooks, as the two array
// parameters of troupe.outcomes_keys; nullopt when no request has a key.
std::optional<std::pair<std::string, std::string>> key_params(const batch& b) {
  runtime::array_literal playbooks, keys;
  for (const auto& q : b)
    if (q.in.idempotency_key) {
      playbooks.bare(q.in.playbook_id);
      keys.text(*q.in.idempotency_key);
    }
  if (keys.empty())
    return std::nullopt;
  return std::pair{playbooks.str(), keys.str()};
}

// What the database holds for a batch, read under the playbooks' row locks.
struct batch_view {
  std::map<std::string, locked_playbook> playbooks;
  std::map<std::string, std::string> recorded; // stored responses by "playbook\nkey"
};

// A cell of the rows troupe.outcomes_lock, troupe.outcomes_active and
// troupe.outcomes_keys answered, whichever way they were read.
const char* at(const pqxx::result& r, std::size_t row, int column) {
  return r[static_cast<pqxx::result::size_type>(row)][column].c_str();
}
const char* at(const runtime::pipeline::rows& r, std::size_t row, int column) {
  return r.at(row, column);
}

// Fill `view` from those rows.
template <class Rows>
void read_locks(const Rows& rows, batch_view& view) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    locked_playbook p;
    p.user_id = at(rows, i, 1);
    p.status = at(rows, i, 2);
    p.state = {std::stoi(at(rows, i, 3)), std::stoi(at(rows, i, 4)), false};
    view.playbooks.emplace(at(rows, i, 0), std::move(p));
  }
}

template <class Rows>
void read_active(const Rows& rows, batch_view& view) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto& p = view.playbooks[at(rows, i, 0)];
    p.state.has_active_job = true;
    p.active_job_id = at(rows, i, 1);
  }
}

template <class Rows>
void read_keys(const Rows& rows, batch_view& view) {
  for (std::size_t i = 0; i < rows.size(); ++i)
    view.recorded[std::string{at(rows, i, 0)} + "\n" + at(rows, i, 1)] = at(rows, i, 2);
}

batch_view lock_and_read(pqxx::work& tx, const batch& b) {
  batch_view view;
  auto ids = playbook_ids(b);
  read_locks(tx.exec_prepared("troupe.outcomes_lock", ids), view);
  if (view.playbooks.empty())
    return view;
  // A statement of its own, so its snapshot is taken after the locks were
  // granted: an evolution that committed while we waited is seen as finished.
  read_active(tx.exec_prepared("troupe.outcomes_active", ids), view);
  if (auto keys = key_params(b))
    read_keys(tx.exec_prepared("troupe.outcomes_keys", keys->first, keys->second), view);
  return view;
}

// A request's idempotency identity within a batch: the caller too, so one
// caller's request can never stand in for another's.
std::string batch_key_of(const outcome_input& in) {
  return in.user_id + "\n" + in.playbook_id + "\n" + in.idempotency_key.value_or("");
}

std::string key_of(const outcome_input& in) {
  return in.playbook_id + "\n" + in.idempotency_key.value_or("");
}

api_response replay(const std::string& stored_body) {
  api_response r;
  r.status = 200;
  r.body = stored_body;
  return r;
}

// For each request, the index of the first request of the batch with the
// same idempotency identity (or its own).
std::vector<std::size_t> first_of_keys(const batch& b) {
  std::vector<std::optional<std::string>> keys;
  for (const auto& q : b)
    keys.push_back(q.in.idempotency_key ? std::optional<std::string>{batch_key_of(q.in)}
                                         : std::nullopt);
  return first_occurrences(keys);
}

using fresh_outcomes = std::map<std::string, std::vector<std::size_t>>; // playbook → requests

// Decides each request: errors and replays get their answer now, new
// outcomes are grouped by playbook.
fresh_outcomes decide(batch& b, batch_view& view, const std::vector<std::size_t>& first) {
  fresh_outcomes fresh;
  for (std::size_t i = 0; i < b.size(); ++i) {
    auto& q = b[i];
    auto it = view.playbooks.find(q.in.playbook_id);
    if (it == view.playbooks.end() || it->second.user_id != q.in.user_id) {
      q.response = error_response(not_found("playbook"), q.request_id);
    } else if (it->second.status != "active") {
      q.response = error_response(conflict("the playbook is archived and accepts no outcomes"),
                                  q.request_id);
    } else if (q.in.idempotency_key && view.recorded.count(key_of(q.in))) {
      q.response = replay(view.recorded[key_of(q.in)]);
    } else if (first[i] == i) {
      fresh[q.in.playbook_id].push_back(i);
    }
  }
  return fresh;
}

// True when some playbook of the batch reaches its threshold with no
// evolution active: the batch enqueues one.
bool enqueues(const fresh_outcomes& fresh, batch_view& view) {
  for (const auto& [playbook_id, indexes] : fresh)
    if (must_enqueue(view.playbooks[playbook_id].state, static_cast<int>(indexes.size())))
      return true;
  return false;
}

// The batch's new rows, a column per parameter of troupe.outcomes_write;
// each new outcome's 201 is written into its request.
class new_rows {
public:
  // The new outcomes of one playbook. They report its active evolution, or
  // `enqueued`, the one this batch enqueued at the `crossing`-th of them.
  void add(batch& b, const std::string& playbook_id, const std::vector<std::size_t>& indexes,
           const locked_playbook& p, const std::optional<lifecycle::enqueued>& enqueued = {},
           int crossing = 0) {
    auto job = enqueued;
    if (!job && !p.active_job_id.empty())
      job = lifecycle::enqueued{p.active_job_id, false, job_status::queued};
    int n = static_cast<int>(indexes.size());
    for (int k = 1; k <= n; ++k) {
      auto& q = b[indexes[static_cast<std::size_t>(k - 1)]];
      auto pos = position(p.state, k);
      auto outcome_id = crypto::uuid_v7();
      // The body by hand, keys in the order a JSON object of this library
      // prints them: it is the hottest answer the server gives.
      std::string body = "{\"evolution\":";
      if (job && (!job->is_new || k >= crossing))
        body += "{\"is_new\":" + std::string{job->is_new && k == crossing ? "true" : "false"} +
                ",\"job_id\":\"" + job->job_id + "\"}";
      else
        body += "null";
      body += ",\"outcome_id\":\"" + outcome_id + "\",\"pending_outcomes\":" +
              std::to_string(pos.pending_after) + ",\"status\":\"recorded\"}";
      ids_.bare(outcome_id);
      playbooks_.bare(playbook_id);
      tasks_.text(q.in.task_description);
      statuses_.bare(q.in.outcome);
      traces_.maybe(q.in.reasoning_trace);
      notes_.maybe(q.in.notes);
      runtime::array_literal these;
      for (const auto& id : q.in.bullet_ids)
        these.text(id);
      bullets_.text(these.str());
      metadata_.text(q.in.metadata);
      keys_.maybe(q.in.idempotency_key);
      // Kept only where a retry can ask for it again.
      if (q.in.idempotency_key)
        responses_.text(body);
      else
        responses_.null();
      users_.bare(p.user_id);
      pendings_.bare(std::to_string(pos.pending_after));
      q.response.status = 201;
      q.response.body = std::move(body);
      ++written_;
    }
    counted_.bare(playbook_id);
    counts_.bare(std::to_string(n));
  }

  std::size_t written() const { return written_; }

  std::vector<std::string> params() const {
    return {ids_.str(),      playbooks_.str(), tasks_.str(), statuses_.str(), traces_.str(),
            notes_.str(),    bullets_.str(),   metadata_.str(), keys_.str(),  responses_.str(),
            users_.str(),    pendings_.str(),  counted_.str(),  counts_.str()};
  }

private:
  runtime::array_literal ids_, playbooks_, tasks_, statuses_, traces_, notes_, bullets_,
      metadata_, keys_, responses_, users_, pendings_, counted_, counts_;
  std::size_t written_ = 0;
};

// The answers of repeats of a key earlier in the batch: like a later retry's.
void answer_repeats(batch& b, const std::vector<std::size_t>& first) {
  for (std::size_t i = 0; i < b.size(); ++i)
    if (first[i] != i) {
      const auto& original = b[first[i]].response;
      b[i].response = original.status == 201 ? replay(original.body) : original;
    }
}

// The batch in two round trips (libpq's pipeline): BEGIN, the locks, the
// active evolutions and the recorded keys; then the rows and COMMIT. False,
// with nothing written, when the batch must enqueue an evolution: that is
// lifecycle's statement on a libpqxx transaction (write_batch_in_steps).
bool write_batch_pipelined(pqxx::connection& conn, batch& b,
                           const std::vector<std::size_t>& first) {
  runtime::pipeline p{conn, {"troupe.outcomes_lock", "troupe.outcomes_active",
                             "troupe.outcomes_keys", "troupe.outcomes_write"}};
  auto ids = playbook_ids(b);
  auto keys = key_params(b);
  p.command("BEGIN");
  auto lock = p.prepared("troupe.outcomes_lock", {ids});
  // Its snapshot is taken after the locks were granted (the next statement
  // of a pipeline starts when the one before ended): an evolution that
  // committed while we waited is seen as finished.
  auto active = p.prepared("troupe.outcomes_active", {ids});
  std::optional<std::size_t> recorded;
  if (keys)
    recorded = p.prepared("troupe.outcomes_keys", {keys->first, keys->second});
  p.run();
  batch_view view;
  read_locks(p.result(lock), view);
  read_active(p.result(active), view);
  if (recorded)
    read_keys(p.result(*recorded), view);

  auto fresh = decide(b, view, first);
  if (enqueues(fresh, view))
    return false; // the pipeline's destructor rolls back
  new_rows rows;
  for (auto& [playbook_id, indexes] : fresh)
    rows.add(b, playbook_id, indexes, view.playbooks[playbook_id]);
  if (rows.written())
    p.prepared("troupe.outcomes_write", rows.params());
  p.command("COMMIT");
  p.run();
  if (rows.written())
    runtime::events_written() = true;
  metrics::ingestion_batch(b.size(), rows.written());
  return true;
}

// The batch on a libpqxx transaction, a round trip per statement: for a
// batch that enqueues an evolution, and on connections without a pipeline.
void write_batch_in_steps(pqxx::connection& conn, batch& b, int max_attempts,
                          const std::vector<std::size_t>& first) {
  pqxx::work tx{conn};
  auto view = lock_and_read(tx, b);
  auto fresh = decide(b, view, first);
  new_rows rows;
  for (auto& [playbook_id, indexes] : fresh) {
    auto& pb = view.playbooks[playbook_id];
    int n = static_cast<int>(indexes.size());
    std::optional<lifecycle::enqueued> job;
    int crossing = must_enqueue(pb.state, n) ? first_reaching(pb.state, n) : 0;
    if (crossing)
      job = lifecycle::enqueue_evolution(tx, pb.user_id, playbook_id, max_attempts, "threshold",
                                         pb.state.pending + n);
    rows.add(b, playbook_id, indexes, pb, job, crossing);
  }
  if (rows.written()) {
    tx.exec_prepared("troupe.outcomes_write", pqxx::prepare::make_dynamic_params(rows.params()));
    runtime::events_written() = true;
  }
  tx.commit();
  metrics::ingestion_batch(b.size(), rows.written());
}

// Writes one batch in one transaction; fills every member's response.
void write_batch(pqxx::connection& conn, batch& b, int max_attempts) {
  auto first = first_of_keys(b);
  if (!runtime::pipeline::supported(conn) || !write_batch_pipelined(conn, b, first)) {
    for (auto& q : b)
      q.response = {};
    write_batch_in_steps(conn, b, max_attempts, first);
  }
  answer_repeats(b, first);
}

// ---- GET …/outcomes ---------------------------------------------------------

api_response list_outcomes(pqxx::connection& conn, const api_request& req) {
  auto id = input::uuid_param(req, 0, "id");
  auto processed = input::enum_query(req, "processed", {"true", "false"});
  int limit = input::limit_query(req);
  auto cursor = input::cursor_query(req);
  if (cursor && !crypto::is_uuid(*cursor))
    throw invalid_argument("cursor", "cursor is not one this server issued");
  pqxx::read_transaction tx{conn};
  playbooks::require_owned(tx, id, req.caller.user_id);
  auto rows = tx.exec_params(
      "SELECT json_build_object('id', id, 'task_description', task_description,"
      " 'outcome', outcome_status, 'reasoning_trace', reasoning_trace, 'notes', notes,"
      " 'bullet_ids', bullet_ids, 'metadata', metadata, 'idempotency_key', idempotency_key,"
      " 'reflection', reflection_data, 'processed_at', rfc3339(processed_at),"
      " 'evolution_job_id', evolution_job_id, 'created_at', rfc3339(created_at))::text, id"
      " FROM outcomes WHERE playbook_id = $1"
      " AND ($2::boolean IS NULL OR (processed_at IS NOT NULL) = $2::boolean)"
      " AND ($3::uuid IS NULL OR id < $3::uuid) ORDER BY id DESC LIMIT $4",
      id, processed, cursor, limit + 1);
  return json_response(200, input::page(rows, limit));
}

// ---- the actor --------------------------------------------------------------
//
//   io thread ─► ingestion actor ─► waiting (shared, locked) ◄── batch writer
//        ▲         (validates)          ▲ takes ≤ max_batch        (a store call
//        │                              │ per transaction           that loops)
//        └──── responses ◄── actor ◄────┴── each written batch ◄─────┘
//
// The batch writer is one store call that writes batches until `waiting` is
// empty: the next transaction starts as soon as the previous one committed,
// without a round trip through the actors and the store's front (which left
// Postgres idle for about a quarter of the time under load). It hands each
// written batch back to the actor, which answers its requests.

// Requests waiting for the batch writer: appended by the actor, taken by the
// writer on its store worker.
struct waiting_outcomes {
  std::mutex mutex;
  std::deque<queued_outcome> queue;
  bool writing = false; // a batch writer runs or is on its way to a store worker

  // Up to `max` of the queue, oldest first.
  std::shared_ptr<batch> take(std::size_t max) {
    auto b = std::make_shared<batch>();
    while (!queue.empty() && b->size() < max) {
      b->push_back(std::move(queue.front()));
      queue.pop_front();
    }
    return b;
  }
};

struct written_batch {
  std::shared_ptr<batch> requests;
};

} // namespace
} // namespace troupe::ingestion

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::ingestion::written_batch)

namespace troupe::ingestion {
namespace {

using flush_atom = caf::atom_constant<caf::atom("flush")>;

using ingestion_actor =
    api_actor::extend<caf::reacts_to<flush_atom>, caf::reacts_to<direct_request>,
                      caf::reacts_to<written_batch>>;

struct ingestion_state {
  std::shared_ptr<waiting_outcomes> waiting = std::make_shared<waiting_outcomes>();
  std::deque<queued_outcome> isolated; // retried one by one after a batch failed
  bool isolated_in_flight = false;
  bool flush_scheduled = false;
  static inline const char* name = "troupe.ingestion";
};

using ingestion_pointer = ingestion_actor::stateful_pointer<ingestion_state>;

void answer(batch& b) {
  for (auto& q : b)
    q.deliver(std::move(q.response));
}

void answer(batch& b, const caf::error& failure) {
  for (auto& q : b)
    q.deliver(error_response(failure, q.request_id));
}

// Writes batches from `waiting` until it is empty, each in its own
// transaction, and sends each written batch to `actor` to answer. A batch
// that failed is left in `failed` for the actor's error handler.
void write_until_empty(pqxx::connection& conn, waiting_outcomes& waiting, std::size_t max_batch,
                       int attempts, const ingestion_actor& actor, batch& failed) {
  for (;;) {
    std::shared_ptr<batch> b;
    {
      std::lock_guard guard{waiting.mutex};
      b = waiting.take(max_batch);
      if (b->empty()) {
        waiting.writing = false;
        return;
      }
    }
    try {
      write_batch(conn, *b, attempts);
    } catch (...) {
      failed = std::move(*b);
      throw;
    }
    runtime::task_committed();
    caf::anon_send(actor, written_batch{std::move(b)});
  }
}

void start(ingestion_pointer self, const store_actor& store, const ingestion_options& opts);

void start_writer(ingestion_pointer self, store_actor store, ingestion_options opts) {
  auto waiting = self->state.waiting;
  auto failed = std::make_shared<batch>();
  auto max_batch = static_cast<std::size_t>(std::max(1, opts.outcomes.max_batch));
  int attempts = opts.max_attempts;
  ingestion_actor me = self;
  runtime::store_call(
      self, store, "ingestion",
      [waiting, failed, max_batch, attempts, me](pqxx::connection& c) {
        write_until_empty(c, *waiting, max_batch, attempts, me, *failed);
      },
      [] {},
      [=](caf::error& e) {
        auto& st = self->state;
        std::shared_ptr<batch> lost = failed;
        {
          std::lock_guard guard{waiting->mutex};
          waiting->writing = false;
          // The store refused the call before a batch was taken (the database
          // is unreachable, the store overloaded): the oldest batch's worth
          // gets the answer, as if its transaction had failed.
          if (lost->empty())
            lost = waiting->take(max_batch);
        }
        if (code_of(e) == errc::unavailable || lost->size() == 1) {
          answer(*lost, e);
        } else {
          // Something in the batch broke it: write each request on its own.
          log::warn("outcome batch failed; retrying its requests one by one",
                    {{"size", lost->size()}});
          for (auto& q : *lost)
            st.isolated.push_back(std::move(q));
        }
        start(self, store, opts);
      });
}

// One request of a failed batch, in a transaction of its own.
void write_isolated(ingestion_pointer self, store_actor store, ingestion_options opts) {
  auto& st = self->state;
  auto b = std::make_shared<batch>();
  b->push_back(std::move(st.isolated.front()));
  st.isolated.pop_front();
  st.isolated_in_flight = true;
  int attempts = opts.max_attempts;
  auto id = b->front().request_id;
  auto done = [=](const caf::error& e) {
    self->state.isolated_in_flight = false;
    if (e)
      answer(*b, e);
    else
      answer(*b);
    start(self, store, opts);
  };
  runtime::store_call(
      self, store, id, [b, attempts](pqxx::connection& c) { write_batch(c, *b, attempts); },
      [=] { done(caf::error{}); }, [=](caf::error& e) { done(e); });
}

// Gets the waiting requests written: the isolated ones first, one at a
// time; then a batch writer, unless one runs.
void start(ingestion_pointer self, const store_actor& store, const ingestion_options& opts) {
  auto& st = self->state;
  if (!st.isolated.empty()) {
    if (!st.isolated_in_flight)
      write_isolated(self, store, opts);
    return;
  }
  if (st.isolated_in_flight)
    return;
  {
    std::lock_guard guard{st.waiting->mutex};
    if (st.waiting->writing || st.waiting->queue.empty())
      return;
    st.waiting->writing = true;
  }
  start_writer(self, store, opts);
}

// Validates a POST …/outcomes and queues it for the batch writer; a bad one
// is answered at once.
void enqueue(ingestion_pointer self, const store_actor& store, const ingestion_options& opts,
             const api_request& req, std::function<void(api_response)> deliver) {
  outcome_input in;
  try {
    in = parse_outcome(req, opts.outcomes);
  } catch (const api_error& e) {
    return deliver(error_response(e, req.request_id));
  }
  auto& st = self->state;
  bool writing;
  {
    std::lock_guard guard{st.waiting->mutex};
    st.waiting->queue.push_back({std::move(in), req.request_id, std::move(deliver), {}});
    writing = st.waiting->writing;
  }
  if (writing)
    return; // the running writer takes it
  if (opts.outcomes.batch_delay_us == 0) {
    start(self, store, opts);
  } else if (!st.flush_scheduled) {
    // The first request after a quiet spell waits a moment for company.
    st.flush_scheduled = true;
    self->delayed_send(self, std::chrono::microseconds{opts.outcomes.batch_delay_us},
                       flush_atom::value);
  }
}

ingestion_actor::behavior_type ingestion(ingestion_pointer self, store_actor store,
                                         ingestion_options opts) {
  return {
      [=](api_request& req) -> caf::result<api_response> {
        if (req.op != endpoint::record_outcome) {
          auto id = req.request_id;
          portability_limits limits{opts.playbooks, opts.outcomes};
          return self->delegate(
              store, db_task{[req = std::move(req), limits](pqxx::connection& c) {
                               if (req.op == endpoint::export_playbook)
                                 return export_playbook(c, req, limits);
                               if (req.op == endpoint::import_playbook)
                                 return import_playbook(c, req, limits);
                               return list_outcomes(c, req);
                             },
                             id});
        }
        auto promise = self->make_response_promise<api_response>();
        enqueue(self, store, opts, req, [promise](api_response r) mutable {
          promise.deliver(std::move(r));
        });
        return promise;
      },
      [=](direct_request& d) {
        if (d.req.op != endpoint::record_outcome)
          return d.reply(error_response(500, "internal", "internal error", d.req.request_id));
        enqueue(self, store, opts, d.req, std::move(d.reply));
      },
      [=](written_batch& w) { answer(*w.requests); },
      [=](flush_atom) {
        self->state.flush_scheduled = false;
        start(self, store, opts);
      },
  };
}

} // namespace

void register_statements() {
  runtime::register_statement("troupe.outcomes_lock",
                              "SELECT p.id, p.user_id, p.status, p.pending_outcomes,"
                              " p.evolution_threshold FROM playbooks p"
                              " WHERE p.id = ANY($1::uuid[]) ORDER BY p.id FOR UPDATE OF p");
  runtime::register_statement("troupe.outcomes_active",
                              "SELECT playbook_id, id FROM jobs WHERE kind = 'evolution'"
                              " AND status IN ('queued', 'running')"
                              " AND playbook_id = ANY($1::uuid[])");
  runtime::register_statement(
      "troupe.outcomes_keys",
      "SELECT o.playbook_id, o.idempotency_key, o.response::text FROM outcomes o"
      " JOIN unnest($1::uuid[], $2::text[]) AS x(p, k)"
      " ON o.playbook_id = x.p AND o.idempotency_key = x.k");
  // One statement writes a batch: its outcomes, the playbooks' counters and
  // an outcome.recorded event per outcome (ids in the outcomes' order; the
  // transaction has its xid from the row locks before the first nextval).
  runtime::register_statement(
      "troupe.outcomes_write",
      "WITH x AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[],"
      " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::uuid[],"
      " $12::int[]) WITH ORDINALITY AS x(id, playbook_id, task, status, trace, notes, bullets,"
      " metadata, key, response, user_id, pending, n)),"
      " o AS (INSERT INTO outcomes (id, playbook_id, task_description, outcome_status,"
      " reasoning_trace, notes, bullet_ids, metadata, idempotency_key, response)"
      " SELECT id, playbook_id, task, status, trace, notes, bullets::text[], metadata::jsonb, key,"
      " response::jsonb FROM x),"
      " c AS (UPDATE playbooks p SET pending_outcomes = p.pending_outcomes + c.n"
      " FROM unnest($13::uuid[], $14::int[]) AS c(id, n) WHERE p.id = c.id)"
      " INSERT INTO events (user_id, topic, playbook_id, data)"
      " SELECT user_id, 'outcome.recorded', playbook_id, jsonb_build_object('outcome_id', id,"
      " 'playbook_id', playbook_id, 'outcome', status, 'pending_outcomes', pending)"
      " FROM x ORDER BY n");
}

api_actor spawn_ingestion(caf::actor_system& sys, store_actor store, ingestion_options opts) {
  return caf::actor_cast<api_actor>(sys.spawn(ingestion, std::move(store), std::move(opts)));
}

direct_actor direct_handle(const api_actor& ingestion) {
  return caf::actor_cast<direct_actor>(ingestion);
}

} // namespace troupe::ingestion
