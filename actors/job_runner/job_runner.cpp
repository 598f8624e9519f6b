#include "actors/job_runner/job_runner.hpp"

#include "actors/job_runner/backoff.hpp"
#include "messages/error_code.hpp"
#include "runtime/job_lifecycle.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"
#include "runtime/store.hpp"

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

// A state write the store could not make is tried again after this pause:
// long enough not to spin while the database is down, short enough that a
// job's end is recorded well within its lease once it is back.
constexpr std::chrono::milliseconds retry_write_after{200};

using runner_impl =
    job_runner_actor::extend<caf::reacts_to<tick_atom>, caf::reacts_to<beat_atom>,
                             caf::reacts_to<grace_atom>, caf::reacts_to<rewrite_atom, std::uint64_t>>;

// ---- the actor ------------------------------------------------------------------------

struct running_job {
  job_assignment job;
  clock::time_point started;
  stop_reason stop = stop_reason::none;
};

// A write of the job state machine: lifecycle work for the store.
using state_write = std::function<void(pqxx::connection&)>;

struct pending_write {
  state_write work;
  std::string job_id;
  std::function<void()> done;
};

struct runner_state {
  std::map<std::string, running_job> running;
  std::map<std::string, int> busy;
  std::vector<lifecycle::finished> completions;
  bool claiming = false;
  bool claim_again = false;
  // A wake-up (or poll) found a kind without enough free slots to claim:
  // claim again once a job ends. Without one, a job's end claims nothing
  // (an idle engine's claims would find the queue empty).
  bool slots_wanted = false;
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

using context_ptr = std::shared_ptr<runner_context>;

void claim_jobs(runner_pointer self, const context_ptr& ctx);
void check_drained(runner_pointer self);

const kind_config* kind_of(const runner_context& ctx, const std::string& kind) {
  for (const auto& k : ctx.opts.kinds)
    if (k.kind == kind)
      return &k;
  return nullptr;
}

lifecycle::lease lease_of(const job_assignment& job) { return {job.id, job.lease_token}; }

// Runs a fenced write through the store, counting it as outstanding until it
// is done. A write the store could not make (database down, store
// overloaded) is tried again after a pause: giving up would leave the job
// running on a lease nobody renews, and the rescue would spend an attempt on
// work that was done. A write that failed for any other reason is a bug: it
// is logged, and the lease expires and the scheduler rescues the job.
void write(runner_pointer self, const context_ptr& ctx, state_write work, std::string job_id,
           std::function<void()> done = {}) {
  ++self->state.outstanding;
  auto finished = [=] {
    --self->state.outstanding;
    if (done)
      done();
    check_drained(self);
  };
  runtime::store_call(
      self, ctx->store, job_id, work, finished, [=](caf::error& e) {
        if (code_of(e) != errc::unavailable) {
          log::error("job state write failed; the lease will expire and the scheduler "
                     "rescues the job",
                     {{"job_id", job_id}, {"error", message_of(e)}});
          return finished();
        }
        log::warn("job state write failed; retrying", {{"error", message_of(e)}});
        auto id = ++self->state.next_write;
        self->state.pending_writes.emplace(id, pending_write{work, job_id, done});
        self->delayed_send(self, retry_write_after, rewrite_atom::value, id);
      });
}

void flush_completions(runner_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  if (st.completing || st.completions.empty())
    return;
  auto n = std::min<std::size_t>(st.completions.size(), ctx->opts.complete_batch);
  std::vector<lifecycle::finished> batch(std::make_move_iterator(st.completions.begin()),
                                         std::make_move_iterator(st.completions.begin() + n));
  st.completions.erase(st.completions.begin(), st.completions.begin() + n);
  st.completing = true;
  write(
      self, ctx, [batch](pqxx::connection& c) { lifecycle::complete_all(c, batch); }, "",
      [=] {
        self->state.completing = false;
        flush_completions(self, ctx);
      });
}

void fail_attempt(runner_pointer self, const context_ptr& ctx, const job_assignment& job,
                  const std::string& error, bool retryable) {
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  auto delay = retry_delay(job.attempt, ctx->opts.backoff_base, ctx->opts.backoff_max,
                           unit(self->state.rng));
  write(
      self, ctx,
      [job, error, retryable, delay](pqxx::connection& c) {
        lifecycle::fail_attempt(c, job, error, retryable, delay);
      },
      job.id);
}

void on_result(runner_pointer self, const context_ptr& ctx, const job_result& r) {
  auto& st = self->state;
  auto it = st.running.find(r.id);
  if (it == st.running.end() || it->second.job.lease_token != r.lease_token)
    return;
  auto entry = std::move(it->second);
  st.running.erase(it);
  --st.busy[entry.job.kind];
  const auto& job = entry.job;
  metrics::job_running(job.kind, -1);
  if (r.status == attempt_end::completed || r.status == attempt_end::failed)
    metrics::job_run_time(job.kind,
                          std::chrono::duration<double>(clock::now() - entry.started).count());
  switch (r.status) {
  case attempt_end::completed:
    if (!r.committed) {
      auto result = json::parse(r.result, nullptr, false);
      st.completions.push_back({lease_of(job), result.is_discarded() ? json(nullptr) : result});
      flush_completions(self, ctx);
    }
    break;
  case attempt_end::failed:
    fail_attempt(self, ctx, job, r.error, r.retryable);
    break;
  case attempt_end::cancelled:
    switch (entry.stop) {
    case stop_reason::timeout:
      fail_attempt(self, ctx, job,
                   "the attempt ran longer than jobs." + job.kind + "_max_run_time_s", true);
      break;
    case stop_reason::drain:
      write(
          self, ctx, [job](pqxx::connection& c) { lifecycle::release(c, {lease_of(job)}); },
          job.id);
      break;
    case stop_reason::lost: // found by the heartbeat: the executor stopped at a step boundary
      log::warn("a job's lease was lost; its result was not committed", {{"job_id", job.id}});
      break;
    case stop_reason::none:
    case stop_reason::cancel:
      write(
          self, ctx, [job](pqxx::connection& c) { lifecycle::cancel_attempt(c, job); }, job.id);
      break;
    }
    break;
  case attempt_end::lost:
    log::warn("a job's lease was lost; its result was not committed", {{"job_id", job.id}});
    break;
  }
  if (st.slots_wanted) {
    st.slots_wanted = false;
    claim_jobs(self, ctx);
  }
  check_drained(self);
}

void start(runner_pointer self, const context_ptr& ctx, job_assignment job) {
  auto* k = kind_of(*ctx, job.kind);
  auto& st = self->state;
  st.running[job.id] = {job, clock::now(), stop_reason::none};
  ++st.busy[job.kind];
  metrics::job_started(job.kind);
  metrics::job_running(job.kind, 1);
  auto id = job.id;
  auto token = job.lease_token;
  self->request(k->executor, caf::infinite, std::move(job))
      .then([=](job_result& r) { on_result(self, ctx, r); },
            [=](caf::error& e) {
              on_result(self, ctx,
                        {id, token, attempt_end::failed, false, true,
                         "executor failed: " + caf::to_string(e), ""});
            });
}

void claim_jobs(runner_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  if (st.draining)
    return;
  if (ctx->opts.admitted && !ctx->opts.admitted->load())
    return; // a gateway refused this node's credentials: it takes no job

  if (st.claiming) {
    st.claim_again = true;
    return;
  }
  std::vector<lifecycle::claim_want> wants;
  for (const auto& k : ctx->opts.kinds) {
    int busy = st.busy[k.kind];
    int free = k.concurrency - busy;
    // While jobs of the kind run, wait until half a batch of slots is free:
    // a claim costs about the same for 1 job as for 100, so claiming one
    // slot at a time as jobs finish would multiply the claims.
    int worth_it = std::max(1, std::min(ctx->opts.claim_batch, k.concurrency) / 2);
    if (free > 0 && (busy == 0 || free >= worth_it))
      wants.push_back({k.kind, std::min(free, ctx->opts.claim_batch)});
    else
      st.slots_wanted = true;
  }
  if (wants.empty())
    return;
  st.claiming = true;
  st.claim_again = false;
  auto node = ctx->opts.node_id;
  int lease = ctx->opts.lease_s;
  runtime::store_call(
      self, ctx->store, "",
      [wants, node, lease](pqxx::connection& c) { return lifecycle::claim(c, wants, node, lease); },
      [=](std::vector<job_assignment> jobs) {
        auto& s = self->state;
        s.claiming = false;
        bool more = s.claim_again;
        if (s.draining) {
          // Claimed while the drain began: give them straight back.
          std::vector<lifecycle::lease> claimed;
          for (const auto& j : jobs)
            claimed.push_back(lease_of(j));
          if (!claimed.empty())
            write(
                self, ctx, [claimed](pqxx::connection& c) { lifecycle::release(c, claimed); },
                "");
          return check_drained(self);
        }
        std::map<std::string, int> got;
        for (auto& j : jobs) {
          ++got[j.kind];
          start(self, ctx, std::move(j));
        }
        for (const auto& w : wants)
          more |= got[w.kind] == w.max;
        if (more)
          claim_jobs(self, ctx);
      },
      [=](caf::error&) {
        self->state.claiming = false;
        check_drained(self);
      });
}

void stop(runner_pointer self, const context_ptr& ctx, running_job& r, stop_reason why) {
  if (r.stop != stop_reason::none)
    return;
  r.stop = why;
  if (auto* k = kind_of(*ctx, r.job.kind))
    self->send(k->executor, stop_job_atom::value, r.job.id);
}

void beat(runner_pointer self, const context_ptr& ctx) {
  auto& st = self->state;
  self->delayed_send(self, ctx->opts.heartbeat, beat_atom::value);
  for (auto& [id, r] : st.running)
    if (auto* k = kind_of(*ctx, r.job.kind);
        k && clock::now() - r.started > std::chrono::seconds{k->max_run_time_s})
      stop(self, ctx, r, stop_reason::timeout);
  if (st.beating || st.running.empty())
    return;
  std::vector<lifecycle::lease> held;
  for (const auto& [id, r] : st.running)
    held.push_back(lease_of(r.job));
  st.beating = true;
  int lease = ctx->opts.lease_s;
  runtime::store_call(
      self, ctx->store, "",
      [held, lease](pqxx::connection& c) { return lifecycle::heartbeat(c, held, lease); },
      [=](std::map<std::string, bool> alive) {
        self->state.beating = false;
        for (const auto& h : held) {
          auto it = self->state.running.find(h.job_id);
          if (it == self->state.running.end() || it->second.job.lease_token != h.token)
            continue; // finished meanwhile (and maybe claimed again)
          auto a = alive.find(h.job_id);
          if (a == alive.end())
            stop(self, ctx, it->second, stop_reason::lost);
          else if (a->second)
            stop(self, ctx, it->second, stop_reason::cancel);
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
          self->delayed_send(self, ctx->opts.poll_interval, tick_atom::value);
      },
      [=](beat_atom) { beat(self, ctx); },
      [=](drain_atom) -> caf::result<bool> {
        auto& st = self->state;
        st.draining = true;
        auto promise = self->make_response_promise<bool>();
        st.drained = promise;
        for (auto& [id, r] : st.running)
          stop(self, ctx, r, stop_reason::drain);
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
        write(self, ctx, std::move(w.work), std::move(w.job_id), std::move(w.done));
      },
      [=](grace_atom) {
        // Jobs that did not reach a step boundary in time: give their leases back.
        auto& st = self->state;
        if (st.running.empty())
          return;
        std::vector<lifecycle::lease> held;
        for (auto& [id, r] : st.running) {
          held.push_back(lease_of(r.job));
          metrics::job_running(r.job.kind, -1);
        }
        st.running.clear();
        write(self, ctx, [held](pqxx::connection& c) { lifecycle::release(c, held); }, "");
      },
  };
}

} // namespace

job_runner_actor spawn_runner(caf::actor_system& sys, store_actor store, runner_options opts) {
  return caf::actor_cast<job_runner_actor>(sys.spawn(runner, std::move(store), std::move(opts)));
}

} // namespace troupe::job_runner
