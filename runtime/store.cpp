#include "runtime/store.hpp"

#include "runtime/outbox.hpp"

#include "messages/errors.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <chrono>
#include <deque>
#include <mutex>
#include <pqxx/largeobject>
#include <pqxx/pqxx>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif

namespace troupe::runtime {
namespace {

using idle_atom = caf::atom_constant<caf::atom("idle")>;
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;

using worker_actor = store_actor;
using front_actor = store_actor::extend<caf::reacts_to<idle_atom, worker_actor>>;

// libpqxx 6.4 hands its libpq connection only to its large-object class
// (a protected static member); a subclass is the one public way to it.
struct libpq_access : pqxx::largeobject {
  static PGconn* of(const pqxx::dbtransaction& tx) { return raw_connection(tx); }
};

// The libpq connection under each live connection of open_connection's,
// for the pipeline (libpqxx's classes have no virtual members to tell a
// store connection by its type).
std::mutex libpq_mutex;
std::unordered_map<const pqxx::connection*, PGconn*>& libpq_connections() {
  static std::unordered_map<const pqxx::connection*, PGconn*> map;
  return map;
}

class store_connection final : public pqxx::connection {
public:
  using pqxx::connection::connection;
  ~store_connection() {
    std::lock_guard guard{libpq_mutex};
    libpq_connections().erase(this);
  }
  void remember(PGconn* libpq) {
    std::lock_guard guard{libpq_mutex};
    libpq_connections()[this] = libpq;
  }
};

std::mutex statements_mutex;
std::vector<std::pair<std::string, std::string>>& statements() {
  static std::vector<std::pair<std::string, std::string>> list;
  return list;
}

// SQLSTATE classes that mean the server went away or is shutting down:
// 08 connection exception, 57P operator intervention (admin shutdown, crash).
bool connection_lost(const pqxx::sql_error& e) {
  const std::string& state = e.sqlstate();
  return state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0;
}

// 25006, read_only_sql_transaction: the server takes no writes. It is a
// standby, or a primary demoted by a failover that this connection reached
// before target_session_attrs could choose: a new connection finds the
// writable host.
bool read_only_server(const pqxx::sql_error& e) { return e.sqlstate() == "25006"; }

// SQLSTATE class 53, insufficient resources (53100 disk full, 53200 out of
// memory, 53300 too many connections): the server is there but cannot do
// the work now. The request is answered 503; the connection is kept.
bool out_of_resources(const pqxx::sql_error& e) { return e.sqlstate().rfind("53", 0) == 0; }

api_response unavailable(const std::string& request_id) {
  return error_response(503, "unavailable", "the database is unavailable; retry shortly",
                        request_id);
}

api_response internal(const std::string& request_id) {
  return error_response(500, "internal", "internal error", request_id);
}

// What the pool's workers tell each other about the database:
// - reconnects: once one worker reaches the database again, the others stop
//   waiting out their back-off and try at once;
// - losses: once one worker found an established connection broken, the
//   others' connections are suspect (a restart or failover breaks them all):
//   each is probed before its next task and replaced if it is dead, instead
//   of failing that task.
// Either way no request gets a stale 503 after the database is back.
struct pool_news {
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> losses{0};
};
using reconnect_count = std::shared_ptr<pool_news>;

struct worker_state {
  connection_ptr conn;
  store_options opts;
  reconnect_count pool_reconnects;
  std::uint64_t reconnects_seen = 0; // the pool's count when this connection was lost
  std::uint64_t losses_seen = 0;     // the pool's losses when this connection was opened
  std::chrono::milliseconds backoff{0};
  std::chrono::steady_clock::time_point next_attempt{};
  bool reported_down = false;
  static inline const char* name = "troupe.store_worker";
};

using worker_pointer = worker_actor::stateful_pointer<worker_state>;

// The first wait after a connection broke; it doubles up to
// database.reconnect_max_backoff_ms. Short, because most breaks are a
// restart or failover that is over within a second.
constexpr std::chrono::milliseconds first_reconnect_backoff{50};

void drop_connection(worker_pointer self, const std::string& why) {
  auto& st = self->state;
  if (st.conn) // an established connection broke (not a failed attempt to open one)
    st.pool_reconnects->losses.fetch_add(1);
  st.conn.reset();
  metrics::db_error("connection");
  auto cap = std::chrono::milliseconds{st.opts.reconnect_max_backoff_ms};
  st.backoff = st.backoff.count() == 0 ? first_reconnect_backoff : std::min(cap, st.backoff * 2);
  st.next_attempt = std::chrono::steady_clock::now() + st.backoff;
  st.reconnects_seen = st.pool_reconnects->reconnects.load();
  if (!st.reported_down) {
    log::warn("database connection lost", {{"error", why}});
    st.reported_down = true;
  }
}

bool ensure_connection(worker_pointer self) {
  auto& st = self->state;
  if (st.conn && st.pool_reconnects->losses.load() != st.losses_seen) {
    // Another worker's connection broke since this one was checked: look
    // before trusting it with a task (one round trip, once per outage).
    st.losses_seen = st.pool_reconnects->losses.load();
    try {
      pqxx::nontransaction probe{*st.conn};
      probe.exec("SELECT 1");
    } catch (const std::exception& e) {
      drop_connection(self, e.what());
      st.next_attempt = std::chrono::steady_clock::now(); // reopen now, not after a back-off
    }
  }
  if (st.conn)
    return true;
  if (std::chrono::steady_clock::now() < st.next_attempt &&
      st.pool_reconnects->reconnects.load() == st.reconnects_seen)
    return false;
  try {
    st.losses_seen = st.pool_reconnects->losses.load();
    st.conn = open_connection(st.opts.connection_string, st.opts.limits);
    if (st.reported_down) {
      log::info("database connection restored");
      st.pool_reconnects->reconnects.fetch_add(1);
    }
    st.backoff = std::chrono::milliseconds{0};
    st.reported_down = false;
    return true;
  } catch (const std::exception& e) {
    drop_connection(self, e.what());
    return false;
  }
}

// What a task threw, other than an api_error: a lost connection (dropped,
// to reconnect with back-off) is unavailable; anything else is a failed
// statement or a bug, logged, and internal.
errc classify_failure(worker_pointer self, const std::string& request_id, std::exception_ptr ex) {
  try {
    std::rethrow_exception(ex);
  } catch (const pqxx::broken_connection& e) {
    drop_connection(self, e.what());
    return errc::unavailable;
  } catch (const pqxx::sql_error& e) {
    if (connection_lost(e) || !self->state.conn->is_open()) {
      drop_connection(self, e.what());
      return errc::unavailable;
    }
    if (read_only_server(e)) {
      metrics::db_error("read_only");
      drop_connection(self, e.what());
      return errc::unavailable;
    }
    if (out_of_resources(e)) {
      metrics::db_error("resources");
      log::warn("the database is short of a resource (disk, memory, connections); answered 503",
                {{"request_id", request_id}, {"error", e.what()}, {"sqlstate", e.sqlstate()}});
      return errc::unavailable;
    }
    metrics::db_error("statement");
    log::error("database statement failed",
               {{"request_id", request_id}, {"error", e.what()}, {"sqlstate", e.sqlstate()},
                {"query", e.query()}});
  } catch (const std::exception& e) {
    if (self->state.conn && !self->state.conn->is_open()) {
      drop_connection(self, e.what());
      return errc::unavailable;
    }
    log::error("database task failed", {{"request_id", request_id}, {"error", e.what()}});
  } catch (...) {
    log::error("database task failed", {{"request_id", request_id}, {"error", "unknown"}});
  }
  return errc::internal;
}

thread_local const store_options* running_options = nullptr; // of the task on this thread

// Runs `work` on the worker's connection; what it wrote counts (metrics,
// the event bridge's wake-up) only once it returned, or committed
// (task_committed).
template <class Work>
void run_on_connection(worker_pointer self, Work&& work) {
  events_written() = false;
  jobs_enqueued() = false;
  metrics::drop_pending();
  running_options = &self->state.opts;
  try {
    work(*self->state.conn);
  } catch (...) {
    running_options = nullptr;
    throw;
  }
  task_committed(); // the work returned: what it wrote committed
  running_options = nullptr;
}

api_response run_task(worker_pointer self, db_task& task) {
  if (!ensure_connection(self))
    return unavailable(task.request_id);
  api_response r;
  try {
    run_on_connection(self, [&](pqxx::connection& c) { r = task.run(c); });
    return r;
  } catch (const api_error& e) {
    return error_response(e, task.request_id);
  } catch (...) {
    return classify_failure(self, task.request_id, std::current_exception()) == errc::unavailable
               ? unavailable(task.request_id)
               : internal(task.request_id);
  }
}

const char* const database_unavailable = "the database is unavailable; retry shortly";

caf::result<void> run_call(worker_pointer self, db_call& call) {
  if (!ensure_connection(self))
    return make_error(errc::unavailable, database_unavailable);
  try {
    run_on_connection(self, call.run);
    return caf::unit;
  } catch (const api_error& e) {
    return to_error(e);
  } catch (...) {
    auto code = classify_failure(self, call.request_id, std::current_exception());
    return make_error(code, code == errc::unavailable ? database_unavailable : "internal error");
  }
}

worker_actor::behavior_type worker(worker_pointer self, store_options opts,
                                   reconnect_count reconnects, caf::actor_addr front_addr) {
  self->state.opts = std::move(opts);
  self->state.pool_reconnects = std::move(reconnects);
  return {
      [=](db_task& task) -> api_response {
        auto response = run_task(self, task);
        if (auto front = caf::actor_cast<front_actor>(front_addr))
          self->send(front, idle_atom::value, caf::actor_cast<worker_actor>(self));
        return response;
      },
      [=](db_call& call) -> caf::result<void> {
        auto result = run_call(self, call);
        if (auto front = caf::actor_cast<front_actor>(front_addr))
          self->send(front, idle_atom::value, caf::actor_cast<worker_actor>(self));
        return result;
      },
  };
}

// Work waiting for a worker: hands itself to the worker it is given and
// delivers its caller's promise when the worker answers.
using pending_work = std::function<void(worker_actor)>;

struct front_state {
  std::vector<worker_actor> idle;
  std::deque<pending_work> queue;
  std::size_t max_queue = 0;
  int pool_size = 0;
  // The pool's gauges are process-wide: take this store's share back out.
  ~front_state() {
    metrics::db_pool_size(-pool_size);
    metrics::db_pool_in_use(-(pool_size - static_cast<int>(idle.size())));
    metrics::db_pool_queued(-static_cast<int>(queue.size()));
  }
  static inline const char* name = "troupe.store";
};

using front_pointer = front_actor::stateful_pointer<front_state>;

// The work of one message: handed to a worker, which answers the caller
// directly (the front is not on the way back: one hop less per call).
template <class Message, class Result>
pending_work work_for(Message msg, caf::typed_response_promise<Result> promise) {
  return [msg = std::move(msg), promise](worker_actor w) mutable {
    promise.delegate(w, std::move(msg));
  };
}

// Runs `work` on an idle worker, or queues it; false when the queue is full.
bool admit(front_pointer self, pending_work work) {
  auto& st = self->state;
  if (!st.idle.empty()) {
    auto w = st.idle.back();
    st.idle.pop_back();
    metrics::db_pool_in_use(1);
    work(w);
    return true;
  }
  if (st.queue.size() >= st.max_queue) {
    metrics::db_pool_rejected();
    return false;
  }
  metrics::db_pool_wait();
  metrics::db_pool_queued(1);
  st.queue.push_back(std::move(work));
  return true;
}

front_actor::behavior_type front(front_pointer self, store_options opts) {
  self->state.max_queue = opts.max_queue;
  auto reconnects = std::make_shared<pool_news>();
  for (int i = 0; i < opts.pool_size; ++i)
    self->state.idle.push_back(
        self->spawn<caf::detached + caf::linked>(worker, opts, reconnects, self->address()));
  self->state.pool_size = opts.pool_size;
  metrics::db_pool_size(opts.pool_size);
  return {
      [=](db_task& task) -> caf::result<api_response> {
        auto promise = self->make_response_promise<api_response>();
        auto id = task.request_id;
        if (!admit(self, work_for(std::move(task), promise)))
          promise.deliver(error_response(503, "unavailable", "the store is overloaded", id));
        return promise;
      },
      [=](db_call& call) -> caf::result<void> {
        auto promise = self->make_response_promise<caf::unit_t>();
        if (!admit(self, work_for(std::move(call), promise)))
          promise.deliver(make_error(errc::unavailable, "the store is overloaded"));
        return promise;
      },
      [=](idle_atom, worker_actor w) {
        auto& st = self->state;
        if (st.queue.empty()) {
          metrics::db_pool_in_use(-1);
          st.idle.push_back(w);
          return;
        }
        auto next = std::move(st.queue.front());
        st.queue.pop_front();
        metrics::db_pool_queued(-1);
        next(w);
      },
  };
}

} // namespace

void array_literal::separate() {
  if (out_.size() > 1)
    out_ += ',';
}

array_literal& array_literal::text(std::string_view v) {
  separate();
  out_ += '"';
  for (char c : v) {
    if (c == '"' || c == '\\')
      out_ += '\\';
    out_ += c;
  }
  out_ += '"';
  return *this;
}

array_literal& array_literal::bare(std::string_view v) {
  separate();
  out_ += v;
  return *this;
}

array_literal& array_literal::null() {
  separate();
  out_ += "NULL";
  return *this;
}

statement::statement(std::string sql) : sql_(std::move(sql)) {
  // Hex of a 64-bit FNV-1a of the text: the same name for the same text in
  // every connection of the process.
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : sql_)
    h = (h ^ c) * 1099511628211ull;
  char buf[32];
  std::snprintf(buf, sizeof buf, "troupe.s%016llx", static_cast<unsigned long long>(h));
  name_ = buf;
}

void register_statement(const std::string& name, const std::string& sql) {
  std::lock_guard guard{statements_mutex};
  for (auto& [n, s] : statements())
    if (n == name) {
      s = sql;
      return;
    }
  statements().emplace_back(name, sql);
}

void connection_deleter::operator()(pqxx::connection* c) const noexcept {
  delete static_cast<store_connection*>(c);
}

connection_ptr open_connection(const std::string& connection_string, session_limits limits) {
  connection_ptr conn{new store_connection(connection_string)};
  {
    // The pipeline keeps the libpq connection's address: libpqxx must never
    // swap it for a new one behind our back (a session reopened that way
    // would also have lost the settings below).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    pqxx::work tx{*conn};
    static_cast<store_connection&>(*conn).remember(libpq_access::of(tx));
    // Generic plans for the prepared statements: each is a lookup or a batch
    // write by parameter, and a custom plan per execution (which Postgres
    // keeps choosing for some, e.g. the batch's FOR UPDATE) is planning
    // work on every batch.
    tx.exec("SET statement_timeout = " + std::to_string(limits.statement_ms) +
            "; SET idle_in_transaction_session_timeout = " +
            std::to_string(limits.idle_in_transaction_ms) +
            "; SET plan_cache_mode = force_generic_plan");
    tx.commit();
  }
  std::lock_guard guard{statements_mutex};
  for (auto& [name, sql] : statements())
    conn->prepare(name, sql);
  return conn;
}

void task_committed() {
  metrics::count_pending();
  const auto* opts = running_options;
  if (opts && events_written() && opts->on_events_written)
    opts->on_events_written();
  if (opts && jobs_enqueued() && opts->on_jobs_enqueued)
    opts->on_jobs_enqueued();
  events_written() = false;
  jobs_enqueued() = false;
}

// ---- pipeline ------------------------------------------------------------------

namespace {

PGconn* libpq_of(pqxx::connection& conn) {
  if (!conn.is_open())
    return nullptr;
  std::lock_guard guard{libpq_mutex};
  auto it = libpq_connections().find(&conn);
  return it == libpq_connections().end() ? nullptr : it->second;
}

[[noreturn]] void throw_lost(PGconn* c) {
  throw pqxx::broken_connection(PQerrorMessage(c));
}

} // namespace

std::size_t pipeline::rows::size() const {
  return static_cast<std::size_t>(PQntuples(static_cast<const PGresult*>(result_.get())));
}

const char* pipeline::rows::at(std::size_t row, int column) const {
  return PQgetvalue(static_cast<const PGresult*>(result_.get()), static_cast<int>(row), column);
}

bool pipeline::supported(pqxx::connection& conn) { return libpq_of(conn) != nullptr; }

pipeline::pipeline(pqxx::connection& conn, std::initializer_list<const char*> statements)
    : conn_(libpq_of(conn)) {
  if (!conn_)
    throw pqxx::broken_connection("not an open store connection");
  // Prepared by libpqxx (once per connection) while it may still run
  // statements of its own: pipeline mode allows no synchronous call.
  for (const char* name : statements) {
    conn.prepare_now(name);
    declared_.emplace_back(name);
  }
  if (!PQenterPipelineMode(static_cast<PGconn*>(conn_)))
    throw_lost(static_cast<PGconn*>(conn_));
}

pipeline::~pipeline() {
  auto* c = static_cast<PGconn*>(conn_);
  if (results_.size() < names_.size()) {
    try {
      run(); // statements queued but never run: end them
    } catch (...) {
    }
  }
  if (PQstatus(c) != CONNECTION_OK)
    return; // the store drops the connection
  PQexitPipelineMode(c);
  if (PQtransactionStatus(c) == PQTRANS_INTRANS || PQtransactionStatus(c) == PQTRANS_INERROR)
    PQclear(PQexec(c, "ROLLBACK"));
}

std::size_t pipeline::command(const char* sql) {
  auto* c = static_cast<PGconn*>(conn_);
  if (!PQsendQueryParams(c, sql, 0, nullptr, nullptr, nullptr, nullptr, 0))
    throw_lost(c);
  names_.emplace_back(sql);
  return names_.size() - 1;
}

std::size_t pipeline::prepared(const std::string& name, const std::vector<std::string>& params) {
  if (std::find(declared_.begin(), declared_.end(), name) == declared_.end())
    throw std::logic_error("statement " + name + " was not declared to the pipeline");
  auto* c = static_cast<PGconn*>(conn_);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params)
    values.push_back(p.c_str());
  if (!PQsendQueryPrepared(c, name.c_str(), static_cast<int>(values.size()), values.data(),
                           nullptr, nullptr, 0))
    throw_lost(c);
  names_.push_back(name);
  return names_.size() - 1;
}

void pipeline::run() {
  auto* c = static_cast<PGconn*>(conn_);
  if (!PQpipelineSync(c))
    throw_lost(c);
  std::string error, sqlstate, statement;
  while (results_.size() < names_.size()) {
    // One result per statement, then a null.
    PGresult* r = PQgetResult(c);
    if (!r)
      throw_lost(c);
    std::shared_ptr<void> owned{r, [](void* p) { PQclear(static_cast<PGresult*>(p)); }};
    while (PGresult* extra = PQgetResult(c))
      PQclear(extra);
    auto status = PQresultStatus(r);
    if (status == PGRES_FATAL_ERROR && error.empty()) {
      error = PQresultErrorMessage(r);
      const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      sqlstate = state ? state : "";
      statement = names_[results_.size()];
    }
    results_.emplace_back();
    results_.back().result_ = std::move(owned);
  }
  PGresult* sync = PQgetResult(c);
  if (!sync)
    throw_lost(c);
  PQclear(sync);
  if (PQstatus(c) != CONNECTION_OK)
    throw_lost(c);
  if (!error.empty())
    throw pqxx::sql_error(error, statement, sqlstate.empty() ? nullptr : sqlstate.c_str());
}

store_actor spawn_store(caf::actor_system& sys, const store_options& opts) {
  return caf::actor_cast<store_actor>(sys.spawn(front, opts));
}

} // namespace troupe::runtime
