// Each maintenance unit of the scheduler against a real Postgres, on a
// database of its own so no other test's rows are in the way.
#include "actors/scheduler/maintenance.hpp"
#include "actors/scheduler/scheduler.hpp"
#include "messages/api.hpp"
#include "runtime/job_lifecycle.hpp"
#include "runtime/crypto.hpp"
#include "runtime/migrations.hpp"
#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace troupe::test;

namespace {

class Maintenance : public ::testing::Test {
protected:
  void SetUp() override {
    conninfo_ = fresh_database("maintenance");
    conn_ = std::make_unique<pqxx::connection>(conninfo_);
    runtime::migrate(*conn_);
    user_ = crypto::uuid_v7();
    exec("INSERT INTO users (id, email, password_hash) VALUES ('" + user_ + "', 'm@x', 'x')");
  }

  void exec(const std::string& sql) {
    pqxx::work tx{*conn_};
    tx.exec(sql);
    tx.commit();
  }

  long long scalar(const std::string& sql) {
    pqxx::read_transaction tx{*conn_};
    auto r = tx.exec(sql);
    return r[0][0].is_null() ? 0 : r[0][0].as<long long>();
  }

  // A playbook with `pending` unprocessed outcomes.
  std::string playbook(int threshold, int pending, const std::string& age = "0 seconds") {
    auto id = crypto::uuid_v7();
    exec("INSERT INTO playbooks (id, user_id, name, evolution_threshold, pending_outcomes,"
         " created_at) VALUES ('" + id + "', '" + user_ + "', 'p', " + std::to_string(threshold) +
         ", " + std::to_string(pending) + ", now() - interval '" + age + "')");
    return id;
  }

  std::string job(const std::string& kind, const std::string& status, const std::string& extra_cols,
                  const std::string& extra_vals) {
    auto id = crypto::uuid_v7();
    exec("INSERT INTO jobs (id, kind, user_id, status" + extra_cols + ") VALUES ('" + id + "', '" +
         kind + "', '" + user_ + "', '" + status + "'" + extra_vals + ")");
    return id;
  }

  std::string conninfo_;
  std::unique_ptr<pqxx::connection> conn_;
  std::string user_;
};

TEST_F(Maintenance, RescueRequeuesExpiredLeasesOrFailsThemWhenAttemptsAreSpent) {
  auto expired = job("noop", "running", ", attempt, lease_token, lease_expires_at",
                     ", 1, gen_random_uuid(), now() - interval '1 second'");
  auto spent = job("noop", "running", ", attempt, max_attempts, lease_token, lease_expires_at",
                   ", 3, 3, gen_random_uuid(), now() - interval '1 second'");
  auto alive = job("noop", "running", ", attempt, lease_token, lease_expires_at",
                   ", 1, gen_random_uuid(), now() + interval '1 minute'");
  EXPECT_EQ(lifecycle::rescue_expired(*conn_), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE id = '" + expired +
                   "' AND status = 'queued' AND lease_token IS NULL"),
            1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE id = '" + spent + "' AND status = 'failed'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE id = '" + alive + "' AND status = 'running'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE topic = 'job.retrying'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE topic = 'job.failed'"), 1);
  EXPECT_EQ(lifecycle::rescue_expired(*conn_), 0);
  // A cancel asked for while the attempt ran is honoured, not retried.
  auto cancelled = job("noop", "running",
                       ", attempt, lease_token, lease_expires_at, cancel_requested",
                       ", 1, gen_random_uuid(), now() - interval '1 second', true");
  EXPECT_EQ(lifecycle::rescue_expired(*conn_), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE id = '" + cancelled +
                   "' AND status = 'cancelled' AND completed_at IS NOT NULL"),
            1);
}

TEST_F(Maintenance, ThresholdSweepQueuesWhatIngestionCouldNot) {
  auto over = playbook(3, 5);
  auto under = playbook(3, 2);
  auto active = playbook(3, 4);
  job("evolution", "queued", ", playbook_id", ", '" + active + "'");
  auto cooling = playbook(3, 4);
  job("evolution", "failed", ", playbook_id, completed_at", ", '" + cooling + "', now()");
  EXPECT_EQ(scheduler::sweep_thresholds(*conn_, 3, 60), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE playbook_id = '" + over +
                   "' AND status = 'queued' AND payload->>'trigger' = 'sweep'"),
            1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE playbook_id = '" + under + "'"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE playbook_id = '" + active + "'"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE playbook_id = '" + cooling + "'"), 1);
  // Once the cool-down has passed, the failed playbook is tried again.
  EXPECT_EQ(scheduler::sweep_thresholds(*conn_, 3, 0), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE playbook_id = '" + cooling +
                   "' AND status = 'queued'"),
            1);
  EXPECT_EQ(scheduler::sweep_thresholds(*conn_, 3, 0), 0);
}

TEST_F(Maintenance, StalenessQueuesOldPendingOutcomes) {
  auto stale = playbook(100, 1, "2 hours");
  auto fresh = playbook(100, 1);
  auto empty = playbook(100, 0, "2 hours");
  EXPECT_EQ(scheduler::trigger_stale(*conn_, 3, 0), 0); // disabled
  EXPECT_EQ(scheduler::trigger_stale(*conn_, 3, 3600), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE playbook_id = '" + stale +
                   "' AND payload->>'trigger' = 'staleness'"),
            1);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE playbook_id IN ('" + fresh + "', '" + empty +
                   "')"),
            0);
}

TEST_F(Maintenance, PruningDeletesOldFinishedJobsAndEventsInBatches) {
  for (int i = 0; i < 5; ++i)
    job("noop", "completed", ", completed_at", ", now() - interval '40 days'");
  auto recent = job("noop", "completed", ", completed_at", ", now() - interval '1 day'");
  auto failed = job("noop", "failed", ", completed_at", ", now() - interval '40 days'");
  exec("INSERT INTO events (topic, created_at) SELECT 'x', now() - interval '8 days'"
       " FROM generate_series(1, 5)");
  exec("INSERT INTO events (topic) VALUES ('recent')");
  EXPECT_EQ(scheduler::prune_jobs(*conn_, 30, 3), 3);
  EXPECT_EQ(scheduler::prune_jobs(*conn_, 30, 3), 2);
  EXPECT_EQ(scheduler::prune_jobs(*conn_, 30, 3), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE id IN ('" + recent + "', '" + failed + "')"), 2);
  EXPECT_EQ(scheduler::prune_events(*conn_, 7, 10), 5);
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), 1);
  // A pass looks at the `batch` lowest ids only: here the recent event and
  // one of three old ones written after it.
  exec("INSERT INTO events (topic, created_at) SELECT 'x', now() - interval '8 days'"
       " FROM generate_series(1, 3)");
  EXPECT_EQ(scheduler::prune_events(*conn_, 7, 2), 1);
  EXPECT_EQ(scheduler::prune_events(*conn_, 7, 10), 2);
  EXPECT_EQ(scheduler::prune_events(*conn_, 7, 10), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE topic = 'recent'"), 1);
}

} // namespace

// The scheduler actor runs a pass when asked (`maintain`), not only on its
// timer: with an hour between timed passes, a lease that expires after the
// first pass is rescued as soon as a pass is asked for.
TEST_F(Maintenance, TheSchedulerRunsAPassWhenAsked) {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  scheduler::scheduler_options opts{.connection_string = conninfo_,
                                    .limits = {},
                                    .node = {},
                                    .heartbeat_interval_ms = 1000,
                                    .node_timeout_s = 30,
                                    .interval_ms = 3600 * 1000,
                                    .max_attempts = 3,
                                    .failure_cooldown_s = 300,
                                    .max_staleness_s = 0,
                                    .jobs_retention_days = 30,
                                    .events_retention_days = 7,
                                    .prune_batch = 500};
  auto sched = scheduler::spawn_scheduler(sys, opts);
  // The first (timed) pass has begun once it holds the advisory lock.
  ASSERT_TRUE(eventually([&] {
    return scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                  " AND database = (SELECT oid FROM pg_database"
                  " WHERE datname = current_database())") > 0;
  }));
  // A lease that expires only after that pass looked: the next timed pass
  // is an hour away.
  auto expired = job("noop", "running", ", attempt, lease_token, lease_expires_at",
                     ", 1, gen_random_uuid(), now() + interval '1 second'");
  ASSERT_TRUE(eventually([&] {
    return scalar("SELECT count(*) FROM jobs WHERE id = '" + expired +
                  "' AND lease_expires_at < now()") == 1;
  }));
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE id = '" + expired + "' AND status = 'running'"),
            1);
  caf::anon_send(sched, maintain_atom::value);
  EXPECT_TRUE(eventually([&] {
    return scalar("SELECT count(*) FROM jobs WHERE id = '" + expired + "' AND status = 'queued'") == 1;
  }));
  caf::anon_send_exit(sched, caf::exit_reason::user_shutdown);
}
