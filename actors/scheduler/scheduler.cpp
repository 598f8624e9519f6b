#include "actors/scheduler/scheduler.hpp"

#include "actors/scheduler/maintenance.hpp"
#include "runtime/job_lifecycle.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"

#include <memory>
#include <pqxx/pqxx>

namespace troupe::scheduler {
namespace {

// "troupe.scheduler" as a lock key; every node uses the same one.
constexpr long long leader_lock_key = 0x7472'7363'6864; // "trschd"


// At most this many prune batches per pass, so a large backlog never holds a
// pass (and the database) for long.
constexpr int prune_batches_per_pass = 20;

// The scheduler's own timers, beside the interface's `maintain`.
using timer_atom = caf::atom_constant<caf::atom("timer")>;
using beat_atom = caf::atom_constant<caf::atom("beat")>;
using scheduler_impl =
    scheduler_actor::extend<caf::reacts_to<timer_atom>, caf::reacts_to<beat_atom>>;

struct scheduler_state {
  runtime::connection_ptr conn;
  bool leader = false;
  // Since when this node leads on its current connection: nodes are retired
  // only after a whole node timeout of leading, so that after an outage
  // (when nobody could heartbeat) every live node has had time to.
  std::chrono::steady_clock::time_point leading_since{};
  static inline const char* name = "troupe.scheduler";
};

bool lead(scheduler_state& st, const scheduler_options& opts) {
  if (!st.leader) {
    pqxx::nontransaction tx{*st.conn};
    st.leader = tx.exec("SELECT pg_try_advisory_lock(" + std::to_string(leader_lock_key) + ")")[0][0]
                    .as<bool>();
    if (st.leader) {
      st.leading_since = std::chrono::steady_clock::now();
      log::info("this node runs the scheduler");
    }
  }
  return st.leader;
}

void prune(pqxx::connection& conn, const scheduler_options& opts) {
  for (int i = 0; i < prune_batches_per_pass; ++i)
    if (prune_jobs(conn, opts.jobs_retention_days, opts.prune_batch) < opts.prune_batch)
      break;
  for (int i = 0; i < prune_batches_per_pass; ++i)
    if (prune_events(conn, opts.events_retention_days, opts.prune_batch) < opts.prune_batch)
      break;
}

void lost_connection(scheduler_state& st, const std::exception& e, std::string_view what) {
  metrics::drop_pending();
  // A broken connection also drops the advisory lock: start over.
  log::warn(what, {{"error", e.what()}});
  st.conn.reset();
  st.leader = false;
}

// Every node's scheduler keeps its registry row fresh; that is what
// /v1/status and troupe_nodes_up call alive, and what the leader's
// node timeout looks at.
void heartbeat(scheduler_state& st, const scheduler_options& opts) {
  if (opts.node.node_id.empty())
    return;
  try {
    if (!st.conn)
      st.conn = runtime::open_connection(opts.connection_string, opts.limits);
    if (heartbeat_node(*st.conn, opts.node))
      log::info("this node is in the registry", {{"role", opts.node.role}});
  } catch (const std::exception& e) {
    lost_connection(st, e, "node heartbeat failed");
  }
}

void pass(scheduler_state& st, const scheduler_options& opts) {
  if (!opts.may_lead)
    return;
  try {
    if (!st.conn)
      st.conn = runtime::open_connection(opts.connection_string, opts.limits);
    if (!lead(st, opts))
      return;
    auto& c = *st.conn;
    bool settled = std::chrono::steady_clock::now() - st.leading_since >=
                   std::chrono::seconds{opts.node_timeout_s};
    if (settled) {
      auto gone = retire_silent_nodes(c, opts.node_timeout_s, opts.node.node_id);
      for (const auto& id : gone)
        log::warn("a node went silent: it left the cluster and its jobs were rescued",
                  {{"peer_node", id}});
    }
    int rescued = lifecycle::rescue_expired(c);
    int swept = sweep_thresholds(c, opts.max_attempts, opts.failure_cooldown_s);
    metrics::count_pending(); // evolutions the sweep queued (committed)
    int stale = trigger_stale(c, opts.max_attempts, opts.max_staleness_s);
    metrics::count_pending();
    prune(c, opts);
    if (settled) { // rows of nodes declared gone (node.left written) long ago
      pqxx::nontransaction tx{c};
      tx.exec_params("DELETE FROM nodes WHERE left_at IS NOT NULL"
                     " AND heartbeat_at < now() - make_interval(secs => $1)",
                     std::max(node_forget_s, opts.node_timeout_s));
    }
    if (rescued || swept || stale)
      log::info("maintenance", {{"rescued", rescued}, {"threshold_sweep", swept},
                                {"staleness", stale}});
  } catch (const std::exception& e) {
    lost_connection(st, e, "maintenance pass failed");
  }
}

scheduler_impl::behavior_type scheduler(scheduler_impl::stateful_pointer<scheduler_state> self,
                                        scheduler_options opts) {
  heartbeat(self->state, opts); // registered before the first job is claimed
  self->send(self, timer_atom::value);
  self->delayed_send(self, std::chrono::milliseconds{opts.heartbeat_interval_ms}, beat_atom::value);
  return {
      // Asked for from outside: one pass now; the timer keeps its period.
      [=](maintain_atom) {
        heartbeat(self->state, opts);
        pass(self->state, opts);
      },
      [=](beat_atom) {
        heartbeat(self->state, opts);
        self->delayed_send(self, std::chrono::milliseconds{opts.heartbeat_interval_ms},
                           beat_atom::value);
      },
      [=](timer_atom) {
        pass(self->state, opts);
        self->delayed_send(self, std::chrono::milliseconds{opts.interval_ms}, timer_atom::value);
      },
  };
}

} // namespace

scheduler_actor spawn_scheduler(caf::actor_system& sys, scheduler_options opts) {
  return caf::actor_cast<scheduler_actor>(sys.spawn<caf::detached>(scheduler, std::move(opts)));
}

} // namespace troupe::scheduler
