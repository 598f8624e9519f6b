#include "runtime/store.hpp"

#include "runtime/job_queue.hpp"

#include "messages/errors.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"

#include <chrono>
#include <deque>
#include <mutex>
#include <pqxx/pqxx>
#include <utility>
#include <vector>

namespace troupe::runtime {
namespace {

using idle_atom = caf::atom_constant<caf::atom("idle")>;
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;

using worker_actor = store_actor;
using front_actor = store_actor::extend<caf::reacts_to<idle_atom, worker_actor>>;

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

api_response unavailable(const std::string& request_id) {
  return error_response(503, "unavailable", "the database is unavailable; retry shortly",
                        request_id);
}

api_response internal(const std::string& request_id) {
  return error_response(500, "internal", "internal error", request_id);
}

struct worker_state {
  std::unique_ptr<pqxx::connection> conn;
  store_options opts;
  std::chrono::milliseconds backoff{0};
  std::chrono::steady_clock::time_point next_attempt{};
  bool reported_down = false;
  static inline const char* name = "troupe.store_worker";
};

using worker_pointer = worker_actor::stateful_pointer<worker_state>;

void drop_connection(worker_pointer self, const std::string& why) {
  auto& st = self->state;
  st.conn.reset();
  metrics::db_error("connection");
  auto cap = std::chrono::milliseconds{st.opts.reconnect_max_backoff_ms};
  st.backoff = st.backoff.count() == 0 ? std::chrono::milliseconds{50}
                                       : std::min(cap, st.backoff * 2);
  st.next_attempt = std::chrono::steady_clock::now() + st.backoff;
  if (!st.reported_down) {
    log::warn("database connection lost", {{"error", why}});
    st.reported_down = true;
  }
}

bool ensure_connection(worker_pointer self) {
  auto& st = self->state;
  if (st.conn)
    return true;
  if (std::chrono::steady_clock::now() < st.next_attempt)
    return false;
  try {
    st.conn = open_connection(st.opts.connection_string, st.opts.statement_timeout_ms);
    if (st.reported_down)
      log::info("database connection restored");
    st.backoff = std::chrono::milliseconds{0};
    st.reported_down = false;
    return true;
  } catch (const std::exception& e) {
    drop_connection(self, e.what());
    return false;
  }
}

api_response run_task(worker_pointer self, db_task& task) {
  if (!ensure_connection(self))
    return unavailable(task.request_id);
  try {
    events_written() = false;
    metrics::drop_pending();
    auto r = task.run(*self->state.conn);
    metrics::count_pending(); // the task returned: what it wrote committed
    if (events_written() && self->state.opts.on_events_written)
      self->state.opts.on_events_written();
    return r;
  } catch (const api_error& e) {
    return error_response(e, task.request_id);
  } catch (const pqxx::broken_connection& e) {
    drop_connection(self, e.what());
    return unavailable(task.request_id);
  } catch (const pqxx::sql_error& e) {
    if (connection_lost(e) || !self->state.conn->is_open()) {
      drop_connection(self, e.what());
      return unavailable(task.request_id);
    }
    metrics::db_error("statement");
    log::error("database statement failed",
               {{"request_id", task.request_id}, {"error", e.what()}, {"sqlstate", e.sqlstate()},
                {"query", e.query()}});
    return internal(task.request_id);
  } catch (const std::exception& e) {
    if (self->state.conn && !self->state.conn->is_open()) {
      drop_connection(self, e.what());
      return unavailable(task.request_id);
    }
    log::error("database task failed", {{"request_id", task.request_id}, {"error", e.what()}});
    return internal(task.request_id);
  }
}

worker_actor::behavior_type worker(worker_pointer self, store_options opts,
                                   caf::actor_addr front_addr) {
  self->state.opts = std::move(opts);
  return {
      [=](db_task& task) -> api_response {
        auto response = run_task(self, task);
        if (auto front = caf::actor_cast<front_actor>(front_addr))
          self->send(front, idle_atom::value, caf::actor_cast<worker_actor>(self));
        return response;
      },
  };
}

struct pending_task {
  db_task task;
  caf::typed_response_promise<api_response> promise;
};

struct front_state {
  std::vector<worker_actor> idle;
  std::deque<pending_task> queue;
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

void dispatch(front_pointer self, worker_actor w, db_task task,
              caf::typed_response_promise<api_response> promise) {
  self->request(w, caf::infinite, std::move(task))
      .then([promise](api_response& r) mutable { promise.deliver(std::move(r)); },
            [promise](caf::error& e) mutable {
              log::error("store worker failed", {{"error", caf::to_string(e)}});
              promise.deliver(internal(""));
            });
}

front_actor::behavior_type front(front_pointer self, store_options opts) {
  self->state.max_queue = opts.max_queue;
  for (int i = 0; i < opts.pool_size; ++i)
    self->state.idle.push_back(self->spawn<caf::detached + caf::linked>(worker, opts, self->address()));
  self->state.pool_size = opts.pool_size;
  metrics::db_pool_size(opts.pool_size);
  return {
      [=](db_task& task) -> caf::result<api_response> {
        auto& st = self->state;
        auto promise = self->make_response_promise<api_response>();
        if (!st.idle.empty()) {
          auto w = st.idle.back();
          st.idle.pop_back();
          metrics::db_pool_in_use(1);
          dispatch(self, w, std::move(task), promise);
        } else if (st.queue.size() >= st.max_queue) {
          metrics::db_pool_rejected();
          promise.deliver(error_response(503, "unavailable", "the store is overloaded",
                                         task.request_id));
        } else {
          metrics::db_pool_wait();
          metrics::db_pool_queued(1);
          st.queue.push_back({std::move(task), promise});
        }
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
        dispatch(self, w, std::move(next.task), next.promise);
      },
  };
}

} // namespace

void register_statement(const std::string& name, const std::string& sql) {
  std::lock_guard guard{statements_mutex};
  for (auto& [n, s] : statements())
    if (n == name) {
      s = sql;
      return;
    }
  statements().emplace_back(name, sql);
}

std::unique_ptr<pqxx::connection> open_connection(const std::string& connection_string,
                                                  int statement_timeout_ms) {
  auto conn = std::make_unique<pqxx::connection>(connection_string);
  {
    pqxx::nontransaction tx{*conn};
    tx.exec("SET statement_timeout = " + std::to_string(statement_timeout_ms));
  }
  std::lock_guard guard{statements_mutex};
  for (auto& [name, sql] : statements())
    conn->prepare(name, sql);
  return conn;
}

store_actor spawn_store(caf::actor_system& sys, const store_options& opts) {
  return caf::actor_cast<store_actor>(sys.spawn(front, opts));
}

} // namespace troupe::runtime
