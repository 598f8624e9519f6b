#include "actors/job_runner/job_runner.hpp"

#include "actors/job_runner/backoff.hpp"
#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/job_queue.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <thread>

namespace troupe::job_runner {
namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;

using tick_atom = caf::atom_constant<caf::atom("tick")>;
using beat_atom = caf::atom_constant<caf::atom("beat")>;
using grace_atom = caf::atom_constant<caf::atom("grace")>;
using rewrite_atom = caf::atom_constant<caf::atom("rewrite")>;

using runner_impl =
    job_runner_actor::extend<caf::reacts_to<tick_atom>, caf::reacts_to<beat_atom>,
                             caf::reacts_to<grace_atom>, caf::reacts_to<rewrite_atom, std::uint64_t>>;

// ---- SQL --------------------------------------------------------------------------

// Claims up to `want` runnable jobs of each kind in `wants` ({kind, n}).
api_response claim(pqxx::connection& conn, const json& wants, const std::string& node,
                   int lease_s) {
  pqxx::work tx{conn};
  runtime::events_written() = true; // its statement writes events: wake the bridge
  // The queue's size changes faster than autovacuum refreshes its statistics;
  // on stale estimates the planner sorts the whole queue instead of reading
  // jobs_runnable_idx in order (measured: 95 ms instead of 2 ms per claim).
  tx.exec("SET LOCAL enable_bitmapscan = off");
  tx.exec("SET LOCAL enable_sort = off");
  json jobs = json::array();
  for (const auto& w : wants) {
    auto rows = tx.exec_params(
        "WITH picked AS (SELECT id FROM jobs WHERE status = 'queued' AND kind = $1"
        "   AND run_after <= now() ORDER BY priority, run_after, id LIMIT $2"
        "   FOR UPDATE SKIP LOCKED),"
        " claimed AS (UPDATE jobs j SET status = 'running', attempt = j.attempt + 1,"
        "   lease_owner = $3, lease_token = gen_random_uuid(),"
        "   lease_expires_at = now() + make_interval(secs => $4),"
        "   started_at = coalesce(j.started_at, now()), updated_at = now()"
        "   FROM picked WHERE j.id = picked.id"
        "   RETURNING j.id, j.kind, j.lease_token, j.attempt, j.max_attempts, j.user_id,"
        "   j.playbook_id, j.payload),"
        " started AS (INSERT INTO events (user_id, topic, playbook_id, job_id, data)"
        "   SELECT user_id, 'job.started', playbook_id, id,"
        "   jsonb_build_object('job_id', id, 'kind', kind, 'attempt', attempt) FROM claimed)"
        " SELECT coalesce(json_agg(json_build_object('id', id, 'kind', kind,"
        " 'lease_token', lease_token, 'attempt', attempt, 'max_attempts', max_attempts,"
        " 'user_id', user_id, 'playbook_id', playbook_id, 'payload', payload)), '[]')::text"
        " FROM claimed",
        w["kind"].get<std::string>(), w["n"].get<int>(), node, lease_s);
    for (auto& j : json::parse(rows[0][0].c_str()))
      jobs.push_back(j);
  }
  tx.commit();
  return json_response(200, jobs);
}

// Effect-free completions, fenced, with their events.
api_response complete(pqxx::connection& conn, const json& done) {
  pqxx::work tx{conn};
  runtime::events_written() = true; // its statement writes events: wake the bridge
  auto rows = tx.exec_params(
      "WITH done AS (UPDATE jobs j SET status = 'completed', completed_at = now(),"
      "   updated_at = now(), lease_owner = NULL, lease_expires_at = NULL, result = x.result"
      "   FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, token uuid, result jsonb)"
      "   WHERE j.id = x.id AND j.status = 'running' AND j.lease_token = x.token"
      "   RETURNING j.id, j.user_id, j.playbook_id, j.kind),"
      " ev AS (INSERT INTO events (user_id, topic, playbook_id, job_id, data)"
      "   SELECT user_id, 'job.completed', playbook_id, id,"
      "   jsonb_build_object('job_id', id, 'kind', kind) FROM done)"
      " SELECT kind, count(*) FROM done GROUP BY kind",
      done.dump());
  tx.commit();
  for (const auto& r : rows)
    metrics::job_completed(r[0].c_str(), r[1].as<std::int64_t>());
  return json_response(200, json::object());
}

// A failed attempt: back to queued after `delay_ms` when retryable with
// attempts left, else failed. The error joins the job's error history.
api_response record_failure(pqxx::connection& conn, const job_assignment& job,
                            const std::string& error, bool retryable, long long delay_ms) {
  pqxx::work tx{conn};
  runtime::events_written() = true; // its statement writes events: wake the bridge
  // A cancel requested while the attempt ran wins over a retry.
  auto rows = tx.exec_params(
      "WITH next AS (SELECT id, CASE WHEN cancel_requested THEN 'cancelled'"
      "   WHEN $3 AND attempt < max_attempts THEN 'queued' ELSE 'failed' END AS status"
      "   FROM jobs WHERE id = $1 AND status = 'running' AND lease_token = $2),"
      " upd AS (UPDATE jobs j SET status = next.status,"
      "   run_after = now() + make_interval(secs => $4::double precision / 1000),"
      "   errors = j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt,"
      "     'error', $5::text, 'at', rfc3339(now()))),"
      "   error_message = $5, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,"
      "   completed_at = CASE WHEN next.status = 'queued' THEN NULL ELSE now() END,"
      "   updated_at = now()"
      "   FROM next WHERE j.id = next.id"
      "   RETURNING j.id, j.status, j.user_id, j.playbook_id, j.kind, j.attempt, j.run_after),"
      " ev AS (INSERT INTO events (user_id, topic, playbook_id, job_id, data)"
      "   SELECT user_id, CASE status WHEN 'queued' THEN 'job.retrying'"
      "   WHEN 'cancelled' THEN 'job.cancelled' ELSE 'job.failed' END,"
      "   playbook_id, id, jsonb_build_object('job_id', id, 'kind', kind, 'attempt', attempt,"
      "   'error', $5::text, 'retry_at', CASE WHEN status = 'queued' THEN rfc3339(run_after) END)"
      "   FROM upd)"
      " SELECT status FROM upd",
      job.id, job.lease_token, retryable, delay_ms, error);
  tx.commit();
  if (!rows.empty())
    metrics::job_attempt_failed(job.kind, rows[0][0].c_str());
  return json_response(200, {{"status", rows.empty() ? "lost" : rows[0][0].c_str()}});
}

api_response record_cancel(pqxx::connection& conn, const job_assignment& job) {
  pqxx::work tx{conn};
  runtime::events_written() = true; // its statement writes events: wake the bridge
  auto rows = tx.exec_params(
      "WITH upd AS (UPDATE jobs SET status = 'cancelled', completed_at = now(), updated_at = now(),"
      "   lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL"
      "   WHERE id = $1 AND status = 'running' AND lease_token = $2"
      "   RETURNING id, user_id, playbook_id, kind),"
      " ev AS (INSERT INTO events (user_id, topic, playbook_id, job_id, data)"
      "   SELECT user_id, 'job.cancelled', playbook_id, id,"
      "   jsonb_build_object('job_id', id, 'kind', kind) FROM upd)"
      " SELECT count(*) FROM upd",
      job.id, job.lease_token);
  tx.commit();
  if (rows[0][0].as<int>() > 0)
    metrics::job_cancelled(job.kind);
  return json_response(200, json::object());
}

// Gives leases back on drain: the jobs are queued again at once and the
// attempt they were on does not count against them.
api_response release(pqxx::connection& conn, const json& jobs) {
  pqxx::work tx{conn};
  runtime::events_written() = true; // its statement writes events: wake the bridge
  auto rows = tx.exec_params(
      "WITH upd AS (UPDATE jobs j SET"
      "   status = CASE WHEN j.cancel_requested THEN 'cancelled' ELSE 'queued' END,"
      "   attempt = CASE WHEN j.cancel_requested THEN j.attempt"
      "     ELSE greatest(j.attempt - 1, 0) END,"
      "   completed_at = CASE WHEN j.cancel_requested THEN now() END,"
      "   run_after = now(), lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,"
      "   updated_at = now() FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, token uuid)"
      "   WHERE j.id = x.id AND j.status = 'running' AND j.lease_token = x.token"
      "   RETURNING j.id, j.status, j.user_id, j.playbook_id, j.kind),"
      " ev AS (INSERT INTO events (user_id, topic, playbook_id, job_id, data)"
      "   SELECT user_id, 'job.cancelled', playbook_id, id,"
      "   jsonb_build_object('job_id', id, 'kind', kind) FROM upd WHERE status = 'cancelled')"
      " SELECT count(*) FILTER (WHERE status = 'queued') FROM upd",
      jobs.dump());
  long long requeued = rows[0][0].as<long long>();
  if (requeued > 0)
    runtime::notify_runners(tx, "released");
  tx.commit();
  return json_response(200, {{"released", requeued}});
}

// Extends the leases held; answers which are still ours and which were asked to cancel.
api_response heartbeat(pqxx::connection& conn, const json& held, int lease_s) {
  pqxx::work tx{conn};
  auto rows = tx.exec_params(
      "UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => $2), updated_at = now()"
      " FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, token uuid)"
      " WHERE j.id = x.id AND j.status = 'running' AND j.lease_token = x.token"
      " RETURNING j.id, j.cancel_requested",
      held.dump(), lease_s);
  tx.commit();
  json out = json::object();
  for (const auto& r : rows)
    out[r[0].c_str()] = r[1].as<bool>();
  return json_response(200, out);
}

// ---- the actor ------------------------------------------------------------------------

struct running_job {
  job_assignment job;
  clock::time_point started;
  std::string stop_reason; // "", cancel, lost, timeout, drain
};

struct pending_write {
  db_task task;
  std::function<void(const api_response&)> done;
};

struct runner_state {
  std::map<std::string, running_job> running;
  std::map<std::string, int> busy;
  json completions = json::array();
  bool claiming = false;
  bool claim_again = false;
  bool completing = false;
  bool beating = false;
  bool draining = false;
  int outstanding = 0; // fenced writes in flight or waiting to be retried
  std::uint64_t next_write = 0;
  std::map<std::uint64_t, pending_write> pending_writes;
  std::optional<caf::typed_response_promise<bool>> drained;
  std::mt19937_64 rng{std::random_device{}()};
  static inline const char* name = "troupe.job_runner";
};

using runner_pointer = runner_impl::stateful_pointer<runner_state>;

struct runner_context {
  store_actor store;
  runner_options opts;
};

void claim_jobs(runner_pointer self, const std::shared_ptr<runner_context>& ctx);
void check_drained(runner_pointer self);

const kind_config* kind_of(const runner_context& ctx, const std::string& kind) {
  for (const auto& k : ctx.opts.kinds)
    if (k.kind == kind)
      return &k;
  return nullptr;
}

// Runs a fenced write through the store, counting it as outstanding until it
// succeeds. A write the store could not make (database down, store
// overloaded) is tried again after a pause: giving up would leave the job
// running on a lease nobody renews, and the rescue would spend an attempt on
// work that was done.
void write(runner_pointer self, const std::shared_ptr<runner_context>& ctx, db_task task,
           std::function<void(const api_response&)> done = {}) {
  ++self->state.outstanding;
  auto retry_later = [=](const std::string& why) {
    log::warn("job state write failed; retrying", {{"error", why}});
    auto id = ++self->state.next_write;
    self->state.pending_writes.emplace(id, pending_write{task, done});
    self->delayed_send(self, std::chrono::milliseconds{200}, rewrite_atom::value, id);
  };
  self->request(ctx->store, caf::infinite, task)
      .then(
          [=](api_response& r) {
            if (r.status != 200 && r.status != 500)
              return retry_later("status " + std::to_string(r.status));
            --self->state.outstanding;
            if (r.status == 500)
              log::error("job state write failed; the lease will expire and the scheduler "
                         "rescues the job",
                         {{"body", r.body}});
            if (done)
              done(r);
            check_drained(self);
          },
          [=](caf::error& e) { retry_later(caf::to_string(e)); });
}

void flush_completions(runner_pointer self, const std::shared_ptr<runner_context>& ctx) {
  auto& st = self->state;
  if (st.completing || st.completions.empty())
    return;
  json batch = json::array();
  json rest = json::array();
  for (auto& c : st.completions)
    (static_cast<int>(batch.size()) < ctx->opts.complete_batch ? batch : rest).push_back(c);
  st.completions = std::move(rest);
  st.completing = true;
  write(self, ctx, db_task{[batch](pqxx::connection& c) { return complete(c, batch); }, ""},
        [=](const api_response&) {
          self->state.completing = false;
          flush_completions(self, ctx);
        });
}

void record_failure_of(runner_pointer self, const std::shared_ptr<runner_context>& ctx,
                       const job_assignment& job, const std::string& error, bool retryable) {
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  auto delay = retry_delay(job.attempt, std::chrono::milliseconds{ctx->opts.backoff_base_ms},
                           std::chrono::milliseconds{ctx->opts.backoff_max_ms},
                           unit(self->state.rng));
  long long ms = delay.count();
  write(self, ctx, db_task{[job, error, retryable, ms](pqxx::connection& c) {
                             return record_failure(c, job, error, retryable, ms);
                           },
                           job.id});
}

void on_result(runner_pointer self, const std::shared_ptr<runner_context>& ctx,
               const job_result& r) {
  auto& st = self->state;
  auto it = st.running.find(r.id);
  if (it == st.running.end() || it->second.job.lease_token != r.lease_token)
    return;
  auto entry = std::move(it->second);
  st.running.erase(it);
  --st.busy[entry.job.kind];
  const auto& job = entry.job;
  metrics::job_running(job.kind, -1);
  if (r.status == "completed" || r.status == "failed")
    metrics::job_run_time(job.kind,
                          std::chrono::duration<double>(clock::now() - entry.started).count());
  if (r.status == "completed" && r.committed)
    metrics::job_completed(job.kind);
  if (r.status == "completed" && !r.committed) {
    st.completions.push_back({{"id", job.id},
                              {"token", job.lease_token},
                              {"result", r.result.empty() ? json(nullptr) : json::parse(r.result)}});
    flush_completions(self, ctx);
  } else if (r.status == "failed") {
    record_failure_of(self, ctx, job, r.error, r.retryable);
  } else if (r.status == "cancelled") {
    if (entry.stop_reason == "timeout")
      record_failure_of(self, ctx, job,
                        "the attempt ran longer than jobs." + job.kind + "_max_run_time_s", true);
    else if (entry.stop_reason == "drain")
      write(self, ctx, db_task{[job](pqxx::connection& c) {
                                 return release(c, json::array({{{"id", job.id},
                                                                 {"token", job.lease_token}}}));
                               },
                               job.id});
    else if (entry.stop_reason != "lost")
      write(self, ctx,
            db_task{[job](pqxx::connection& c) { return record_cancel(c, job); }, job.id});
  } else if (r.status == "lost") {
    log::warn("a job's lease was lost; its result was not committed", {{"job_id", job.id}});
  }
  claim_jobs(self, ctx);
  check_drained(self);
}

void start(runner_pointer self, const std::shared_ptr<runner_context>& ctx, job_assignment job) {
  auto* k = kind_of(*ctx, job.kind);
  auto& st = self->state;
  st.running[job.id] = {job, clock::now(), ""};
  ++st.busy[job.kind];
  metrics::job_started(job.kind);
  metrics::job_running(job.kind, 1);
  auto id = job.id;
  auto token = job.lease_token;
  self->request(k->executor, caf::infinite, std::move(job))
      .then([=](job_result& r) { on_result(self, ctx, r); },
            [=](caf::error& e) {
              on_result(self, ctx,
                        {id, token, "failed", false, true, "executor failed: " + caf::to_string(e), ""});
            });
}

void claim_jobs(runner_pointer self, const std::shared_ptr<runner_context>& ctx) {
  auto& st = self->state;
  if (st.draining)
    return;
  if (st.claiming) {
    st.claim_again = true;
    return;
  }
  json wants = json::array();
  for (const auto& k : ctx->opts.kinds) {
    int busy = st.busy[k.kind];
    int free = k.concurrency - busy;
    // While jobs of the kind run, wait until half a batch of slots is free:
    // a claim costs about the same for 1 job as for 100, so claiming one
    // slot at a time as jobs finish would multiply the claims.
    int worth_it = std::max(1, std::min(ctx->opts.claim_batch, k.concurrency) / 2);
    if (free > 0 && (busy == 0 || free >= worth_it))
      wants.push_back({{"kind", k.kind}, {"n", std::min(free, ctx->opts.claim_batch)}});
  }
  if (wants.empty())
    return;
  st.claiming = true;
  st.claim_again = false;
  auto node = ctx->opts.node_id;
  int lease = ctx->opts.lease_s;
  self->request(ctx->store, caf::infinite,
                db_task{[wants, node, lease](pqxx::connection& c) {
                          return claim(c, wants, node, lease);
                        },
                        ""})
      .then(
          [=](api_response& r) {
            auto& s = self->state;
            s.claiming = false;
            bool more = s.claim_again;
            if (r.status == 200 && s.draining) {
              // Claimed while the drain began: give them straight back.
              json claimed = json::array();
              for (auto& j : json::parse(r.body))
                claimed.push_back({{"id", j["id"]}, {"token", j["lease_token"]}});
              if (!claimed.empty())
                write(self, ctx, db_task{[claimed](pqxx::connection& c) {
                                           return release(c, claimed);
                                         },
                                         ""});
              return check_drained(self);
            }
            if (r.status == 200) {
              auto jobs = json::parse(r.body);
              std::map<std::string, int> got;
              for (auto& j : jobs) {
                job_assignment a{j["id"],
                                 j["kind"],
                                 j["lease_token"],
                                 j["attempt"],
                                 j["max_attempts"],
                                 j["user_id"],
                                 j["playbook_id"].is_null() ? "" : j["playbook_id"].get<std::string>(),
                                 j["payload"].dump()};
                ++got[a.kind];
                start(self, ctx, std::move(a));
              }
              for (const auto& w : wants)
                more |= got[w["kind"].get<std::string>()] == w["n"].get<int>();
            }
            if (more)
              claim_jobs(self, ctx);
          },
          [=](caf::error&) {
            self->state.claiming = false;
            check_drained(self);
          });
}

void stop(runner_pointer self, const std::shared_ptr<runner_context>& ctx, running_job& r,
          const std::string& reason) {
  if (!r.stop_reason.empty())
    return;
  r.stop_reason = reason;
  if (auto* k = kind_of(*ctx, r.job.kind))
    self->send(k->executor, stop_job_atom::value, r.job.id);
}

void beat(runner_pointer self, const std::shared_ptr<runner_context>& ctx) {
  auto& st = self->state;
  self->delayed_send(self, std::chrono::milliseconds{ctx->opts.heartbeat_ms}, beat_atom::value);
  for (auto& [id, r] : st.running)
    if (auto* k = kind_of(*ctx, r.job.kind);
        k && clock::now() - r.started > std::chrono::seconds{k->max_run_time_s})
      stop(self, ctx, r, "timeout");
  if (st.beating || st.running.empty())
    return;
  json held = json::array();
  for (const auto& [id, r] : st.running)
    held.push_back({{"id", id}, {"token", r.job.lease_token}});
  st.beating = true;
  int lease = ctx->opts.lease_s;
  self->request(ctx->store, caf::infinite,
                db_task{[held, lease](pqxx::connection& c) { return heartbeat(c, held, lease); },
                        ""})
      .then(
          [=](api_response& r) {
            self->state.beating = false;
            if (r.status != 200)
              return;
            auto alive = json::parse(r.body);
            for (const auto& h : held) {
              auto it = self->state.running.find(h["id"].get<std::string>());
              if (it == self->state.running.end() ||
                  it->second.job.lease_token != h["token"].get<std::string>())
                continue; // finished meanwhile (and maybe claimed again)
              auto a = alive.find(h["id"].get<std::string>());
              if (a == alive.end())
                stop(self, ctx, it->second, "lost");
              else if (a->get<bool>())
                stop(self, ctx, it->second, "cancel");
            }
          },
          [=](caf::error&) { self->state.beating = false; });
}

void check_drained(runner_pointer self) {
  auto& st = self->state;
  if (!st.drained || st.claiming || !st.running.empty() || !st.completions.empty() ||
      st.completing || st.outstanding > 0)
    return;
  st.drained->deliver(true);
  st.drained.reset();
}

runner_impl::behavior_type runner(runner_pointer self, store_actor store, runner_options opts) {
  auto ctx = std::make_shared<runner_context>(runner_context{std::move(store), std::move(opts)});
  self->send(self, tick_atom::value);
  self->send(self, beat_atom::value);
  return {
      [=](wake_atom) { claim_jobs(self, ctx); },
      [=](tick_atom) {
        claim_jobs(self, ctx);
        if (!self->state.draining)
          self->delayed_send(self, std::chrono::milliseconds{ctx->opts.poll_interval_ms},
                             tick_atom::value);
      },
      [=](beat_atom) { beat(self, ctx); },
      [=](drain_atom) -> caf::result<bool> {
        auto& st = self->state;
        st.draining = true;
        auto promise = self->make_response_promise<bool>();
        st.drained = promise;
        for (auto& [id, r] : st.running)
          stop(self, ctx, r, "drain");
        self->delayed_send(self, ctx->opts.drain_grace, grace_atom::value);
        check_drained(self);
        return promise;
      },
      [=](rewrite_atom, std::uint64_t id) {
        auto it = self->state.pending_writes.find(id);
        if (it == self->state.pending_writes.end())
          return;
        auto w = std::move(it->second);
        self->state.pending_writes.erase(it);
        --self->state.outstanding; // write() counts it again
        write(self, ctx, std::move(w.task), std::move(w.done));
      },
      [=](grace_atom) {
        // Jobs that did not reach a step boundary in time: give their leases back.
        auto& st = self->state;
        if (st.running.empty())
          return;
        json jobs = json::array();
        for (auto& [id, r] : st.running) {
          jobs.push_back({{"id", id}, {"token", r.job.lease_token}});
          metrics::job_running(r.job.kind, -1);
        }
        st.running.clear();
        write(self, ctx, db_task{[jobs](pqxx::connection& c) { return release(c, jobs); }, ""});
      },
  };
}

} // namespace

job_runner_actor spawn_runner(caf::actor_system& sys, store_actor store, runner_options opts) {
  return caf::actor_cast<job_runner_actor>(sys.spawn(runner, std::move(store), std::move(opts)));
}

// ---- LISTEN -----------------------------------------------------------------------------

struct notification_listener::impl {
  std::string conninfo;
  std::function<void()> wake;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable cv;
  std::thread thread;

  struct receiver : pqxx::notification_receiver {
    receiver(pqxx::connection_base& c, std::function<void()>& w)
        : pqxx::notification_receiver(c, runtime::jobs_channel), wake(w) {}
    void operator()(const std::string&, int) override { wake(); }
    std::function<void()>& wake;
  };

  void pause(std::chrono::milliseconds d) {
    std::unique_lock lock{mutex};
    cv.wait_for(lock, d, [this] { return stopping.load(); });
  }

  void run() {
    auto backoff = std::chrono::milliseconds{100};
    while (!stopping) {
      try {
        pqxx::connection conn{conninfo};
        receiver r{conn, wake};
        backoff = std::chrono::milliseconds{100};
        wake(); // notifications sent while we were away are lost: look anyway
        while (!stopping)
          conn.await_notification(0, 200000);
      } catch (const std::exception& e) {
        if (stopping)
          break;
        log::debug("job notification listener reconnecting", {{"error", e.what()}});
        pause(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds{5000});
      }
    }
  }
};

notification_listener::notification_listener(std::string connection_string,
                                             std::function<void()> wake)
    : impl_(std::make_unique<impl>()) {
  impl_->conninfo = std::move(connection_string);
  impl_->wake = std::move(wake);
  impl_->thread = std::thread([this] { impl_->run(); });
}

notification_listener::~notification_listener() {
  impl_->stopping = true;
  impl_->cv.notify_all();
  if (impl_->thread.joinable())
    impl_->thread.join();
}

} // namespace troupe::job_runner
