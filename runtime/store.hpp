// The store: every SQL statement of a node goes through it.
//
//        db_call / db_task            idle worker?
//   caller ──────────► store front ──── yes ──► worker k (detached, owns one
//      ▲                 │  no: queue (bounded; full → unavailable)  pqxx::connection)
//      └── (nothing) or a troupe error / api_response ◄──────────┘
//
// Each worker is a detached actor that owns one connection, so blocking
// libpq calls never run on CAF's shared scheduler threads. A worker whose
// connection broke answers 503 at once and reconnects with capped
// exponential back-off; once any worker of the pool has reconnected, the
// others try again at once instead of waiting out their back-off. Prepared
// statements are registered again on each new connection.
#pragma once

#include "messages/api.hpp"

#include <pqxx/connection>
#include <pqxx/transaction_base>

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

// ---- the store's interface -------------------------------------------------------
//
// It lives here, not in messages/, because it never crosses nodes. Work runs
// on one of the store's blocking workers with that worker's
// connection. The store is node-local by design (each node has its own
// connection pool), so its messages carry closures and never cross nodes;
// they are the message types without inspect().
//
//   db_call  ─► void(pqxx::connection&) ─► an empty answer, or a troupe error
//               (errc::unavailable when the database is unreachable; the
//               errc of an api_error the work threw; internal otherwise).
//               Typed results travel through store_call (below), never
//               through JSON.
//   db_task  ─► an HTTP route handler's answer (api_response); only for the
//               handlers the gateway reaches through handler_task.
namespace troupe {

struct db_task {
  // Runs inside the worker; throws pqxx::broken_connection when the database
  // is unreachable (answered 503), any other exception is a bug (500).
  std::function<api_response(pqxx::connection&)> run;
  std::string request_id;
};

struct db_call {
  std::function<void(pqxx::connection&)> run;
  std::string request_id; // for the log lines of a failure
};

using store_actor = caf::typed_actor<caf::replies_to<db_task>::with<api_response>,
                                     caf::replies_to<db_call>::with<void>>;

} // namespace troupe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::db_task)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::db_call)

namespace troupe::runtime {

// What one session may hold of the database: a statement may run for
// `statement_ms`, and a transaction may sit idle between statements for
// `idle_in_transaction_ms` before Postgres ends the session (so a stopped or
// stalled process cannot keep row locks the rest of the cluster waits on).
// 0 means no limit.
struct session_limits {
  int statement_ms = 5000;
  int idle_in_transaction_ms = 5000;
};

struct store_options {
  std::string connection_string;
  int pool_size = 8;
  session_limits limits;
  int reconnect_max_backoff_ms = 5000;
  std::size_t max_queue = 10000; // tasks waiting for a worker; beyond → 503
  // Called on the worker's thread after a task that wrote events
  // (runtime::insert_events) returned: the in-process wake-up of the event
  // bridge. Must not block.
  std::function<void()> on_events_written;
  // The same after a task that made jobs runnable (runtime::notify_runners):
  // the in-process and cross-node nudge of job runners. Must not block.
  std::function<void()> on_jobs_enqueued;
};

// A Postgres array literal built one element at a time, so that a column of
// a whole batch travels as one parameter (`unnest($1::uuid[], $2::text[])`):
// Postgres parses it faster than JSON, and the statement stays one prepared
// statement whatever the batch size.
class array_literal {
public:
  array_literal& text(std::string_view v); // any text: quoted, `"` and `\` escaped
  array_literal& maybe(const std::optional<std::string>& v) { return v ? text(*v) : null(); }
  array_literal& bare(std::string_view v); // a uuid or a number: no quoting needed
  array_literal& null();
  std::string str() const { return out_ + "}"; }
  bool empty() const { return out_.size() == 1; }

private:
  void separate();
  std::string out_ = "{";
};

// A statement run prepared: parsed and planned once per connection (a
// generic plan, see open_connection) instead of with every execution. It is
// prepared on whichever connection first runs it, so it works on any
// connection, pooled or not. The name comes from the text.
class statement {
public:
  explicit statement(std::string sql);

  template <class... Args>
  pqxx::result operator()(pqxx::transaction_base& tx, Args&&... args) const {
    tx.conn().prepare(name_, sql_); // a no-op once defined with this text
    return tx.exec_prepared(name_, std::forward<Args>(args)...);
  }

private:
  std::string sql_;
  std::string name_;
};

// Statements sent together and answered together: one round trip where a
// libpqxx transaction takes one per statement (libpq's pipeline mode, which
// libpqxx 6.4 does not expose). Only on a connection open_connection made
// (`supported`). Each statement is a registered one (register_statement)
// with text parameters, or a command without parameters (BEGIN, COMMIT).
//
//   pipeline p{conn, {"troupe.x", "troupe.y"}};   // the statements it will run
//   p.command("BEGIN"); auto lock = p.prepared("troupe.x", {ids}); p.run();
//   … p.result(lock) …; p.prepared(…); p.command("COMMIT"); p.run();
//
// run() sends what was queued since the last run and reads every answer; a
// failed statement (and the ones after it, which Postgres skips) throws
// pqxx::sql_error with the first failure's SQLSTATE, a lost connection
// pqxx::broken_connection. The destructor leaves pipeline mode and rolls
// back a transaction left open, so the connection is clean for the next task.
class pipeline {
public:
  // The rows one statement answered, as text.
  class rows {
  public:
    std::size_t size() const;
    const char* at(std::size_t row, int column) const; // "" for NULL

  private:
    friend class pipeline;
    std::shared_ptr<void> result_; // the PGresult
  };

  static bool supported(pqxx::connection& conn);
  pipeline(pqxx::connection& conn, std::initializer_list<const char*> statements);
  ~pipeline();
  pipeline(const pipeline&) = delete;
  pipeline& operator=(const pipeline&) = delete;

  std::size_t command(const char* sql);
  std::size_t prepared(const std::string& name, const std::vector<std::string>& params);
  void run();
  const rows& result(std::size_t statement) const { return results_.at(statement); }

private:
  void* conn_; // the PGconn
  std::vector<std::string> declared_;
  std::vector<std::string> names_; // per statement, for errors
  std::vector<rows> results_;      // per statement answered so far
};

// For a store task that commits more than once (the ingestion's batch
// writer): what it wrote so far counts now (job metrics, the event bridge's
// and the job runners' wake-ups), as it would once the task returned.
void task_committed();

// Registers a prepared statement for every store connection. Call before
// spawn_store (statements are prepared lazily on first use).
void register_statement(const std::string& name, const std::string& sql);

store_actor spawn_store(caf::actor_system& sys, const store_options& opts);

// Runs `work(pqxx::connection&)` in a store worker on behalf of `self`
// (giving up after `timeout`: on_error then gets CAF's request_timeout), then
// calls `on_value` with what it returned (nothing, for void work) or
// `on_error` with the troupe error (errc::unavailable when the database is
// unreachable, the errc of an api_error the work threw, internal for a bug).
// The value comes back from the worker's thread in storage the closure
// shares: typed, never serialised (the store is node-local).
template <class Self, class Work, class OnValue, class OnError>
void store_call_within(Self* self, const store_actor& store, caf::duration timeout,
                       std::string request_id, Work work, OnValue on_value, OnError on_error) {
  using T = std::invoke_result_t<Work&, pqxx::connection&>;
  auto failed = [on_error](caf::error& e) mutable { on_error(e); };
  if constexpr (std::is_void_v<T>) {
    self->request(store, timeout, db_call{std::move(work), std::move(request_id)})
        .then([on_value]() mutable { on_value(); }, std::move(failed)); // a unit is an empty message
  } else {
    auto out = std::make_shared<std::optional<T>>();
    db_call call{[work = std::move(work), out](pqxx::connection& c) mutable { out->emplace(work(c)); },
                 std::move(request_id)};
    self->request(store, timeout, std::move(call))
        .then([on_value, out]() mutable { on_value(std::move(**out)); },
              std::move(failed));
  }
}

// store_call_within without a deadline: the store always answers (its queue
// is bounded and a lost connection answers unavailable at once).
template <class Self, class Work, class OnValue, class OnError>
void store_call(Self* self, const store_actor& store, std::string request_id, Work work,
                OnValue on_value, OnError on_error) {
  store_call_within(self, store, caf::infinite, std::move(request_id), std::move(work),
                    std::move(on_value), std::move(on_error));
}

// store_call answering a request of `self`'s: the work's value, or its error.
template <class T, class Self, class Work>
caf::result<T> store_reply(Self* self, const store_actor& store, std::string request_id,
                           Work work) {
  auto promise = self->template make_response_promise<T>();
  store_call(
      self, store, std::move(request_id), std::move(work),
      [promise](T value) mutable { promise.deliver(std::move(value)); },
      [promise](caf::error& e) mutable { promise.deliver(std::move(e)); });
  return promise;
}

// A connection open_connection made; it is one the pipeline can use, and
// must be deleted as such (libpqxx's connections have no virtual destructor).
struct connection_deleter {
  void operator()(pqxx::connection* c) const noexcept;
};
using connection_ptr = std::unique_ptr<pqxx::connection, connection_deleter>;

// Opens a connection with the session limits applied and every registered
// statement prepared (also used by one-shot commands and the scheduler).
connection_ptr open_connection(const std::string& connection_string, session_limits limits);

} // namespace troupe::runtime
