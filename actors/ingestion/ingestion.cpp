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

std::map<std::string, locked_playbook> lock_playbooks(pqxx::work& tx, const batch& b) {
  auto ids = playbook_ids(b);
  auto rows = tx.exec_prepared("troupe.outcomes_lock", ids);
  std::map<std::string, locked_playbook> out;
  for (const auto& r : rows) {
    locked_playbook p;
    p.user_id = r[1].c_str();
    p.status = r[2].c_str();
    p.state = {r[3].as<int>(), r[4].as<int>(), false};
    out.emplace(r[0].c_str(), std::move(p));
  }
  if (out.empty())
    return out;
  // A statement of its own, so its snapshot is taken after the locks were
  // granted: an evolution that committed while we waited is seen as finished.
  auto active = tx.exec_prepared("troupe.outcomes_active", ids);
  for (const auto& r : active) {
    auto& p = out[r[0].c_str()];
    p.state.has_active_job = true;
    p.active_job_id = r[1].c_str();
  }
  return out;
}

// Stored responses of idempotency keys already recorded, by "playbook\nkey".
std::map<std::string, std::string> recorded_keys(pqxx::work& tx, const batch& b) {
  runtime::array_literal playbooks, keys;
  for (const auto& q : b)
    if (q.in.idempotency_key) {
      playbooks.bare(q.in.playbook_id);
      keys.text(*q.in.idempotency_key);
    }
  std::map<std::string, std::string> out;
  if (keys.empty())
    return out;
  for (const auto& r : tx.exec_prepared("troupe.outcomes_keys", playbooks.str(), keys.str()))
    out[std::string{r[0].c_str()} + "\n" + r[1].c_str()] = r[2].c_str();
  return out;
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

// Writes one batch in one transaction; fills every member's response.
void write_batch(pqxx::connection& conn, batch& b, int max_attempts) {
  pqxx::work tx{conn};
  auto playbooks = lock_playbooks(tx, b);
  auto recorded = recorded_keys(tx, b);

  std::vector<std::optional<std::string>> keys;
  for (const auto& q : b)
    keys.push_back(q.in.idempotency_key ? std::optional<std::string>{batch_key_of(q.in)}
                                         : std::nullopt);
  auto first = first_occurrences(keys);

  // Decide each request: errors and replays now, new outcomes per playbook.
  std::map<std::string, std::vector<std::size_t>> fresh; // playbook → request indexes
  for (std::size_t i = 0; i < b.size(); ++i) {
    auto& q = b[i];
    auto it = playbooks.find(q.in.playbook_id);
    if (it == playbooks.end() || it->second.user_id != q.in.user_id) {
      q.response = error_response(not_found("playbook"), q.request_id);
    } else if (it->second.status != "active") {
      q.response = error_response(conflict("the playbook is archived and accepts no outcomes"),
                                  q.request_id);
    } else if (q.in.idempotency_key && recorded.count(key_of(q.in))) {
      q.response = replay(recorded[key_of(q.in)]);
    } else if (first[i] == i) {
      fresh[q.in.playbook_id].push_back(i);
    }
  }

  // The batch's new rows, a column per parameter of troupe.outcomes_write.
  runtime::array_literal ids, playbook_col, tasks, statuses, traces, notes, bullets, metadata,
      idempotency_keys, responses, users, pendings, counted_playbooks, counts;
  std::size_t written = 0;
  for (auto& [playbook_id, indexes] : fresh) {
    auto& p = playbooks[playbook_id];
    int n = static_cast<int>(indexes.size());
    std::optional<lifecycle::enqueued> job;
    if (!p.active_job_id.empty())
      job = lifecycle::enqueued{p.active_job_id, false, job_status::queued};
    int crossing = must_enqueue(p.state, n) ? first_reaching(p.state, n) : 0;
    if (crossing)
      job = lifecycle::enqueue_evolution(tx, p.user_id, playbook_id, max_attempts, "threshold",
                                         p.state.pending + n);
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
      ids.bare(outcome_id);
      playbook_col.bare(playbook_id);
      tasks.text(q.in.task_description);
      statuses.bare(q.in.outcome);
      traces.maybe(q.in.reasoning_trace);
      notes.maybe(q.in.notes);
      runtime::array_literal these;
      for (const auto& id : q.in.bullet_ids)
        these.text(id);
      bullets.text(these.str());
      metadata.text(q.in.metadata);
      idempotency_keys.maybe(q.in.idempotency_key);
      // Kept only where a retry can ask for it again.
      if (q.in.idempotency_key)
        responses.text(body);
      else
        responses.null();
      users.bare(p.user_id);
      pendings.bare(std::to_string(pos.pending_after));
      q.response.status = 201;
      q.response.body = std::move(body);
      ++written;
    }
    counted_playbooks.bare(playbook_id);
    counts.bare(std::to_string(n));
  }

  if (written) {
    tx.exec_prepared("troupe.outcomes_write", ids.str(), playbook_col.str(), tasks.str(),
                     statuses.str(), traces.str(), notes.str(), bullets.str(), metadata.str(),
                     idempotency_keys.str(), responses.str(), users.str(), pendings.str(),
                     counted_playbooks.str(), counts.str());
    runtime::events_written() = true;
  }
  tx.commit();
  metrics::ingestion_batch(b.size(), written);

  for (std::size_t i = 0; i < b.size(); ++i)
    if (first[i] != i) {
      // A repeat of a key earlier in this batch answers like a later retry would.
      const auto& original = b[first[i]].response;
      b[i].response = original.status == 201 ? replay(original.body) : original;
    }
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

using flush_atom = caf::atom_constant<caf::atom("flush")>;

using ingestion_actor =
    api_actor::extend<caf::reacts_to<flush_atom>, caf::reacts_to<direct_request>>;

struct ingestion_state {
  std::deque<queued_outcome> queue;
  std::deque<queued_outcome> isolated; // retried one by one after a batch failed
  bool in_flight = false;
  bool flush_scheduled = false;
  static inline const char* name = "troupe.ingestion";
};

using ingestion_pointer = ingestion_actor::stateful_pointer<ingestion_state>;

void flush(ingestion_pointer self, store_actor store, const ingestion_options& opts);

void finish(ingestion_pointer self, store_actor store, const ingestion_options& opts,
            std::shared_ptr<batch> b, const caf::error& failure) {
  auto& st = self->state;
  st.in_flight = false;
  if (!failure) {
    for (auto& q : *b)
      q.deliver(std::move(q.response));
  } else if (code_of(failure) == errc::unavailable || b->size() == 1) {
    for (auto& q : *b)
      q.deliver(error_response(failure, q.request_id));
  } else {
    // Something in the batch broke it: write each request on its own.
    log::warn("outcome batch failed; retrying its requests one by one", {{"size", b->size()}});
    for (auto& q : *b)
      st.isolated.push_back(std::move(q));
  }
  flush(self, store, opts);
}

void flush(ingestion_pointer self, store_actor store, const ingestion_options& opts) {
  auto& st = self->state;
  if (st.in_flight)
    return;
  auto b = std::make_shared<batch>();
  if (!st.isolated.empty()) {
    b->push_back(std::move(st.isolated.front()));
    st.isolated.pop_front();
  } else {
    while (!st.queue.empty() && static_cast<int>(b->size()) < opts.outcomes.max_batch) {
      b->push_back(std::move(st.queue.front()));
      st.queue.pop_front();
    }
  }
  if (b->empty())
    return;
  st.in_flight = true;
  int attempts = opts.max_attempts;
  auto id = b->front().request_id;
  runtime::store_call(
      self, store, id, [b, attempts](pqxx::connection& c) { write_batch(c, *b, attempts); },
      [=] { finish(self, store, opts, b, caf::error{}); },
      [=](caf::error& e) { finish(self, store, opts, b, e); });
}

// Validates a POST …/outcomes and queues it for the next batch; a bad one
// is answered at once.
void enqueue(ingestion_pointer self, const store_actor& store, const ingestion_options& opts,
             const api_request& req, std::function<void(api_response)> deliver) {
  outcome_input in;
  try {
    in = parse_outcome(req, opts.outcomes);
  } catch (const api_error& e) {
    return deliver(error_response(e, req.request_id));
  }
  self->state.queue.push_back({std::move(in), req.request_id, std::move(deliver), {}});
  if (opts.outcomes.batch_delay_us == 0) {
    flush(self, store, opts);
  } else if (!self->state.flush_scheduled && !self->state.in_flight) {
    self->state.flush_scheduled = true;
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
      [=](flush_atom) {
        self->state.flush_scheduled = false;
        flush(self, store, opts);
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
