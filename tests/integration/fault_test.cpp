// Faults the engine survives: a commit under a stale lease token, Postgres
// restarting under ingestion load, and SIGTERM under load.
#include "actors/critic/critic.hpp"
#include "actors/evolution/evolution.hpp"
#include "actors/voter/voter.hpp"
#include "messages/api.hpp"
#include "runtime/crypto.hpp"
#include "runtime/migrations.hpp"
#include "runtime/store.hpp"
#include "tests/integration/harness.hpp"

#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace troupe;
using namespace troupe::test;

namespace {

// A worker whose lease was taken over can never commit: its evolution is
// refused by the fence and leaves nothing behind; the lease holder's commits.
TEST(Fencing, ACommitWithAStaleLeaseTokenChangesNothing) {
  auto& db = shared_database();
  test_node n{db.conninfo(), [](config::settings& s) { s.jobs.run_jobs = false; }};
  auto u = make_user(n.address());
  http_client c{n.address()};
  auto pb = c.send("POST", "/v1/playbooks",
                   json{{"name", "fenced"},
                        {"evolution_threshold", 100},
                        {"content", "## S\n[s-00001] helpful=0 harmful=0 :: x\n"}}
                       .dump(),
                   u.auth())
                .doc()["id"]
                .get<std::string>();
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(c.send("POST", "/v1/playbooks/" + pb + "/outcomes",
                     json{{"task_description", "t"}, {"outcome", "success"},
                          {"bullet_ids", {"s-00001"}}}
                         .dump(),
                     u.auth())
                  .status,
              201);
  auto job = crypto::uuid_v7();
  auto holder = crypto::uuid_v7();
  {
    pqxx::connection conn{db.conninfo()};
    pqxx::work tx{conn};
    tx.exec_params("INSERT INTO jobs (id, kind, user_id, playbook_id, status, attempt,"
                   " lease_owner, lease_token, lease_expires_at, started_at)"
                   " VALUES ($1, 'evolution', $2, $3, 'running', 2, 'node-b', $4,"
                   " now() + interval '1 minute', now())",
                   job, u.id, pb, holder);
    tx.commit();
  }
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  runtime::store_options so;
  so.connection_string = db.conninfo();
  so.pool_size = 2;
  auto store = runtime::spawn_store(sys, so);
  evolution::evolution_options eo;
  eo.max_outcomes_per_job = config::settings{}.evolution.max_outcomes_per_job;
  eo.max_attempts = config::settings{}.jobs.max_attempts;
  eo.completeness = evolution::spawn_critic(sys, "completeness");
  eo.efficiency = evolution::spawn_critic(sys, "efficiency");
  eo.safety = evolution::spawn_critic(sys, "safety");
  eo.voter = evolution::spawn_voter(sys);
  auto evolution = evolution::spawn_evolution(sys, store, eo);
  caf::scoped_actor self{sys};
  auto run = [&](const std::string& token) {
    job_result out;
    job_assignment a{job, "evolution", token, 1, 3, u.id, pb, "{}"};
    self->request(evolution, std::chrono::seconds{30}, a)
        .receive([&](job_result& r) { out = r; },
                 [&](caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
    return out;
  };
  auto stale = run(crypto::uuid_v7()); // the token of the attempt that lost its lease
  EXPECT_EQ(stale.status, attempt_end::lost);
  EXPECT_EQ(scalar(db.conninfo(), "SELECT count(*) FROM playbook_versions WHERE playbook_id = '" +
                                      pb + "'"),
            1);
  EXPECT_EQ(scalar(db.conninfo(), "SELECT count(*) FROM outcomes WHERE playbook_id = '" + pb +
                                      "' AND processed_at IS NULL"),
            3);
  EXPECT_EQ(scalar(db.conninfo(),
                   "SELECT count(*) FROM jobs WHERE id = '" + job + "' AND status = 'running'"),
            1);
  auto current = run(holder);
  EXPECT_EQ(current.status, attempt_end::completed);
  EXPECT_EQ(scalar(db.conninfo(), "SELECT count(*) FROM playbook_versions WHERE playbook_id = '" +
                                      pb + "'"),
            2);
  EXPECT_EQ(scalar(db.conninfo(), "SELECT count(*) FROM outcomes WHERE playbook_id = '" + pb +
                                      "' AND processed_at IS NULL"),
            0);
  // Replaying the holder's commit is refused too: the job is no longer running.
  EXPECT_EQ(run(holder).status, attempt_end::lost);
  EXPECT_EQ(scalar(db.conninfo(), "SELECT count(*) FROM playbook_versions WHERE playbook_id = '" +
                                      pb + "'"),
            2);
  for (auto a : {caf::actor_cast<caf::actor>(store), caf::actor_cast<caf::actor>(evolution),
                 caf::actor_cast<caf::actor>(eo.completeness),
                 caf::actor_cast<caf::actor>(eo.efficiency), caf::actor_cast<caf::actor>(eo.safety),
                 caf::actor_cast<caf::actor>(eo.voter)})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

// A process stopped inside a transaction (SIGSTOP, a stalled VM) cannot hold
// its row locks for ever: Postgres ends the idle session after
// database.idle_in_transaction_timeout_ms, and the rows are free again.
TEST(StalledSessions, ATransactionLeftIdleIsEndedAndItsLocksReleased) {
  auto& db = shared_database();
  auto u = make_user(test_node{db.conninfo()}.address());
  auto job = enqueue_noop(db.conninfo(), u.id, json::object(), 3, false, 3600);
  auto stalled = runtime::open_connection(
      db.conninfo(), {.statement_ms = 5000, .idle_in_transaction_ms = 300});
  auto held = std::make_unique<pqxx::work>(*stalled);
  held->exec_params("SELECT id FROM jobs WHERE id = $1 FOR UPDATE", job);
  // Held: another session cannot take the row.
  pqxx::connection other{db.conninfo()};
  auto try_lock = [&] {
    try {
      pqxx::work tx{other};
      tx.exec_params("SELECT id FROM jobs WHERE id = $1 FOR UPDATE NOWAIT", job);
      tx.commit();
      return true;
    } catch (const pqxx::sql_error&) {
      return false;
    }
  };
  EXPECT_FALSE(try_lock());
  ASSERT_TRUE(eventually(try_lock));
  // The stalled session learns on its next statement that it is gone.
  EXPECT_ANY_THROW(held->exec("SELECT 1"));
}

// A node that runs no jobs and retries a lost database quickly: the API
// alone, against a database the test breaks.
namespace {
void ingestion_only(config::settings& s) {
  s.jobs.run_jobs = false;
  s.database.reconnect_max_backoff_ms = 200;
}
} // namespace

// Every outcome answered 2xx is in the database; the outage answers 503;
// ingestion resumes without restarting troupe.
TEST(IngestionFaults, PostgresRestartsUnderLoad) {
  test_database db;
  test_node n{db.conninfo(), ingestion_only};
  auto u = make_user(n.address());
  std::string pb;
  {
    http_client c{n.address()};
    pb = c.send("POST", "/v1/playbooks", json{{"name", "load"}, {"evolution_threshold", 1000000}}.dump(),
                u.auth())
             .doc()["id"];
  }
  std::atomic<bool> stop{false};
  std::atomic<int> unavailable{0}, other{0};
  std::mutex mutex;
  std::vector<std::string> acknowledged;
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t)
    clients.emplace_back([&, t] {
      std::unique_ptr<http_client> c;
      for (int i = 0; !stop; ++i) {
        try {
          if (!c)
            c = std::make_unique<http_client>(n.address());
          auto r = c->send("POST", "/v1/playbooks/" + pb + "/outcomes",
                           json{{"task_description", "t" + std::to_string(t) + "-" + std::to_string(i)},
                                {"outcome", "success"}}
                               .dump(),
                           u.auth());
          if (r.status == 201) {
            std::lock_guard g{mutex};
            acknowledged.push_back(r.doc()["outcome_id"]);
          } else if (r.status == 503) {
            ++unavailable;
          } else {
            ++other;
          }
        } catch (const std::exception&) {
          c.reset(); // the server closed the connection; a client would reconnect
        }
      }
    });
  auto count_acked = [&] {
    std::lock_guard g{mutex};
    return acknowledged.size();
  };
  ASSERT_TRUE(eventually([&] { return count_acked() > 200; }));
  db.pg->stop();
  ASSERT_TRUE(eventually([&] { return unavailable > 20; }));
  {
    // Monitoring keeps answering while the database is away, and says so.
    http_client c{n.address()};
    auto metrics = c.send("GET", "/metrics");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_NE(metrics.body.find("\ntroupe_database_up 0\n"), std::string::npos);
    EXPECT_EQ(metrics.body.find("troupe_db_errors_total{kind=\"connection\"} 0\n"),
              std::string::npos);
    auto status = c.send("GET", "/v1/status");
    EXPECT_EQ(status.status, 200);
    EXPECT_EQ(status.doc()["database"]["ok"], false);
    EXPECT_EQ(c.send("GET", "/readyz").status, 503);
  }
  auto acked_at_restart = count_acked();
  db.pg->start();
  EXPECT_TRUE(eventually([&] { return count_acked() > acked_at_restart + 200; }));
  {
    http_client c{n.address()};
    EXPECT_NE(c.send("GET", "/metrics").body.find("\ntroupe_database_up 1\n"), std::string::npos);
  }
  stop = true;
  for (auto& t : clients)
    t.join();
  EXPECT_EQ(other, 0);
  std::set<std::string> stored;
  {
    pqxx::connection conn{db.conninfo()};
    pqxx::read_transaction tx{conn};
    for (const auto& r : tx.exec_params("SELECT id FROM outcomes WHERE playbook_id = $1", pb))
      stored.insert(r[0].c_str());
    // pending_outcomes still equals the unprocessed rows.
    EXPECT_EQ(tx.exec_params("SELECT pending_outcomes FROM playbooks WHERE id = $1", pb)[0][0]
                  .as<long long>(),
              static_cast<long long>(stored.size()));
  }
  std::size_t missing = 0;
  for (const auto& id : acknowledged)
    missing += stored.count(id) == 0;
  EXPECT_EQ(missing, 0u);
  EXPECT_GE(stored.size(), acknowledged.size());
}

// A request stuck behind a lock in the database is answered 503 when
// server.request_timeout_ms runs out; the late reply is dropped and the
// connection keeps serving.
TEST(RequestTimeout, AStuckRequestIsAnswered503InTime) {
  auto& db = shared_database();
  test_node n{db.conninfo(), [](config::settings& s) {
                s.jobs.run_jobs = false;
                s.server.request_timeout_ms = 300;
              }};
  auto u = make_user(n.address());
  http_client c{n.address()};
  auto pb = c.send("POST", "/v1/playbooks", json{{"name", "locked"}}.dump(), u.auth())
                .doc()["id"]
                .get<std::string>();
  pqxx::connection blocker{db.conninfo()};
  pqxx::work lock{blocker};
  lock.exec_params("SELECT 1 FROM playbooks WHERE id = $1 FOR UPDATE", pb);
  auto r = c.send("PATCH", "/v1/playbooks/" + pb, json{{"name", "renamed"}}.dump(), u.auth());
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.doc()["error"]["code"], "unavailable");
  lock.abort();
  // The stuck PATCH completes in the database after the lock goes; its late
  // reply is dropped, and every later request on the connection gets its own
  // answer.
  for (int i = 0; i < 20; ++i) {
    auto next = c.send("GET", "/v1/nowhere-" + std::to_string(i), "", u.auth());
    EXPECT_EQ(next.status, 404);
    EXPECT_NE(next.body.find("nowhere-" + std::to_string(i)), std::string::npos) << next.body;
  }
  EXPECT_EQ(c.send("GET", "/v1/playbooks/" + pb, "", u.auth()).status, 200);
  EXPECT_TRUE(eventually([&] {
    return c.send("GET", "/v1/playbooks/" + pb, "", u.auth()).doc()["name"] == "renamed";
  }));
}

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// SIGTERM under load: no accepted request is cut off, running jobs give their
// leases back, and the process exits 0.
TEST(ShutdownFaults, SigtermUnderLoad) {
  auto& db = shared_database();
  temp_dir data;
  auto u_email = "drain-" + crypto::random_hex(4) + "@example.com";
  pid_t pid = fork();
  if (pid == 0) {
    int err = open((data.path() + "/serve.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(err, 2);
    dup2(err, 1);
    setenv("TROUPE_JOBS_ENABLE_NOOP", "true", 1);
    setenv("TROUPE_AUTH_ALLOW_REGISTRATION", "true", 1);
    setenv("TROUPE_JOBS_HEARTBEAT_MS", "200", 1);
    setenv("TROUPE_SERVER_SHUTDOWN_GRACE_S", "3", 1);
    execl(TROUPE_BINARY, TROUPE_BINARY, "serve", "--data-dir", data.path().c_str(), "--listen",
          "127.0.0.1:0", "--database-url", db.conninfo().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(data.path() + "/listen.addr"); }))
      << slurp(data.path() + "/serve.err");
  auto address = slurp(data.path() + "/listen.addr");
  address.pop_back();
  auto u = make_user(address);
  std::string pb;
  {
    http_client c{address};
    pb = c.send("POST", "/v1/playbooks", json{{"name", "drain"}, {"evolution_threshold", 1000000}}.dump(),
                u.auth())
             .doc()["id"];
  }
  // Jobs that would run for minutes, so they are running when SIGTERM lands.
  std::vector<std::string> long_jobs;
  {
    pqxx::connection conn{db.conninfo()};
    pqxx::work tx{conn};
    for (int i = 0; i < 3; ++i) {
      auto id = crypto::uuid_v7();
      tx.exec_params("INSERT INTO jobs (id, kind, user_id, payload) VALUES ($1, 'noop', $2,"
                     " '{\"steps\": 100000, \"step_ms\": 10}')",
                     id, u.id);
      long_jobs.push_back(id);
    }
    tx.exec("SELECT pg_notify('troupe_jobs', 'noop')");
    tx.commit();
  }
  auto running = [&] {
    return scalar(db.conninfo(), "SELECT count(*) FROM jobs WHERE user_id = '" + u.id +
                                     "' AND status = 'running'");
  };
  ASSERT_TRUE(eventually([&] { return running() == 3; }));

  std::atomic<bool> stop{false};
  std::atomic<int> complete{0}, cut_off{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&] {
      try {
        http_client c{address};
        while (!stop) {
          // A request either gets a whole response or finds the server gone
          // before it was accepted (connect or write fails); never half.
          auto r = c.send("POST", "/v1/playbooks/" + pb + "/outcomes",
                          json{{"task_description", "t"}, {"outcome", "success"}}.dump(),
                          u.auth());
          if (r.status == 201 || r.status == 503)
            ++complete;
          else
            ++cut_off;
        }
      } catch (const std::exception&) {
        // The connection was closed between requests during the drain.
      }
    });
  ASSERT_TRUE(eventually([&] { return complete > 100; }));
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_TRUE(eventually([&] { return waitpid(pid, &status, WNOHANG) == pid; },
                         std::chrono::seconds{60}));
  stop = true;
  for (auto& t : clients)
    t.join();
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << slurp(data.path() + "/serve.err");
  EXPECT_EQ(cut_off, 0);
  // The leases were given back: the jobs are queued again, attempt not spent.
  EXPECT_EQ(running(), 0);
  EXPECT_EQ(scalar(db.conninfo(), "SELECT count(*) FROM jobs WHERE user_id = '" + u.id +
                                      "' AND status = 'queued' AND attempt = 0"),
            3);
  EXPECT_EQ(scalar(db.conninfo(), "SELECT count(*) FROM outcomes WHERE playbook_id = '" + pb + "'"),
            scalar(db.conninfo(), "SELECT pending_outcomes FROM playbooks WHERE id = '" + pb + "'"));
  // Tidy: these jobs would otherwise be picked up by later tests' nodes.
  pqxx::connection conn{db.conninfo()};
  pqxx::work tx{conn};
  tx.exec_params("DELETE FROM jobs WHERE user_id = $1", u.id);
  tx.commit();
}

} // namespace

namespace {

void admin_sql(const std::string& conninfo, const std::string& sql) {
  pqxx::connection conn{conninfo};
  pqxx::nontransaction tx{conn};
  tx.exec(sql);
}

// The process-wide count of failed statements of `kind` (0 before the first).
double db_errors(const std::string& address, const std::string& kind) {
  http_client c{address};
  auto body = c.send("GET", "/metrics").body;
  auto key = "troupe_db_errors_total{kind=\"" + kind + "\"} ";
  auto at = body.find(key);
  return at == std::string::npos ? 0 : std::stod(body.substr(at + key.size()));
}

} // namespace

// A node whose database stops taking writes (what its sessions see when the
// primary they reached is demoted in a failover, or they reach a standby:
// SQLSTATE 25006) answers 503 with Retry-After, never 500, replaces the
// connection, and writes again by itself once the server takes writes.
TEST(DatabaseFaults, AServerThatTakesNoWritesIsUnavailableUntilItDoesAgain) {
  test_database db;
  test_node n{db.conninfo(), ingestion_only};
  auto u = make_user(n.address());
  // Counted process-wide: other tests' failures are not this one's.
  auto statement_errors = db_errors(n.address(), "statement");
  auto create = [&] {
    http_client c{n.address()};
    return c.send("POST", "/v1/playbooks", json{{"name", "p"}}.dump(), u.auth());
  };
  ASSERT_EQ(create().status, 201);
  std::string name;
  {
    pqxx::connection conn{db.conninfo()};
    pqxx::nontransaction tx{conn};
    name = tx.exec("SELECT current_database()")[0][0].c_str();
  }
  auto end_sessions = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE datname = current_database() AND pid <> pg_backend_pid()";
  admin_sql(db.conninfo(), "ALTER DATABASE \"" + name + "\" SET default_transaction_read_only = on");
  admin_sql(db.conninfo(), end_sessions);
  // The first writes may meet a session that was just ended (a lost
  // connection, also 503); then every write meets the read-only server.
  ASSERT_TRUE(eventually([&] {
    create();
    return db_errors(n.address(), "read_only") > 0;
  }));
  for (int i = 0; i < 10; ++i) {
    auto r = create();
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.header("retry-after"), "1");
  }
  admin_sql(db.conninfo(), "BEGIN READ WRITE; ALTER DATABASE \"" + name +
                               "\" RESET default_transaction_read_only; COMMIT");
  ASSERT_TRUE(eventually([&] { return create().status == 201; }));
  EXPECT_EQ(db_errors(n.address(), "statement"), statement_errors);
  // The playbooks answered 201 are there, and no other.
  pqxx::connection conn{db.conninfo()};
  pqxx::read_transaction tx{conn};
  EXPECT_EQ(tx.exec_params("SELECT count(*) FROM playbooks WHERE user_id = $1", u.id)[0][0].as<int>(), 2);
}

namespace {

// A tmpfs of `size` mounted on a directory of its own, owned by the user
// Postgres runs as; unmounted when it goes. Needs root (the suite's CI runs
// as root); `mounted()` says whether it worked.
class small_filesystem {
public:
  explicit small_filesystem(const std::string& size) {
    if (geteuid() != 0)
      return;
    if (std::system(("mount -t tmpfs -o size=" + size + ",mode=0700 tmpfs '" + dir_.path() + "'").c_str()) != 0)
      return;
    mounted_ = std::system(("chown postgres:postgres '" + dir_.path() + "'").c_str()) == 0;
  }
  ~small_filesystem() {
    if (mounted_ && std::system(("umount -l '" + dir_.path() + "'").c_str()) != 0)
      ADD_FAILURE() << "could not unmount " << dir_.path();
  }
  bool mounted() const { return mounted_; }
  const std::string& path() const { return dir_.path(); }
  bool resize(const std::string& size) {
    return std::system(("mount -o remount,size=" + size + " '" + dir_.path() + "'").c_str()) == 0;
  }

private:
  temp_dir dir_;
  bool mounted_ = false;
};

} // namespace

// The outcomes table on a filesystem that fills up under load: writes get
// 503 with Retry-After (Postgres' 53100, disk full), never 500; the process
// keeps answering; every outcome answered 201 is stored; and writes resume by
// themselves once there is room again.
TEST(DatabaseFaults, AFullDiskIsUnavailableLosesNothingAndRecovers) {
  small_filesystem disk{"4m"};
  if (!disk.mounted())
    GTEST_SKIP() << "needs root to mount a small tmpfs; the error mapping is covered by "
                    "AServerThatTakesNoWritesIsUnavailableUntilItDoesAgain";
  test_database db;
  test_node n{db.conninfo(), ingestion_only};
  admin_sql(db.conninfo(), "CREATE TABLESPACE small LOCATION '" + disk.path() + "'");
  admin_sql(db.conninfo(), "ALTER TABLE outcomes SET TABLESPACE small");
  auto u = make_user(n.address());
  // Counted process-wide: other tests' failures are not this one's.
  auto statement_errors = db_errors(n.address(), "statement");
  std::string pb;
  {
    http_client c{n.address()};
    pb = c.send("POST", "/v1/playbooks", json{{"name", "full"}, {"evolution_threshold", 1000000}}.dump(),
                u.auth())
             .doc()["id"];
  }
  // 48 KiB of text that does not compress: each outcome takes its room.
  std::string trace;
  std::uint64_t x = 88172645463325252ull;
  while (trace.size() < 48 * 1024) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    trace += static_cast<char>('a' + x % 26);
  }
  std::vector<std::string> acknowledged;
  int unavailable = 0, other = 0, i = 0;
  auto post = [&] {
    http_client c{n.address()};
    auto r = c.send("POST", "/v1/playbooks/" + pb + "/outcomes",
                    json{{"task_description", "t" + std::to_string(i++)}, {"outcome", "failure"},
                         {"reasoning_trace", trace}}
                        .dump(),
                    u.auth());
    if (r.status == 201)
      acknowledged.push_back(r.doc()["outcome_id"]);
    else if (r.status == 503 && r.header("retry-after") == "1")
      ++unavailable;
    else
      ++other;
    return r.status;
  };
  // Until the disk is full (4 MiB hold fewer than 100 such outcomes).
  ASSERT_TRUE(eventually([&] { return post() == 503; })) << acknowledged.size();
  for (int k = 0; k < 5; ++k)
    EXPECT_EQ(post(), 503);
  EXPECT_GT(acknowledged.size(), 10u);
  {
    http_client c{n.address()};
    EXPECT_EQ(c.send("GET", "/healthz").status, 200);
    EXPECT_GT(db_errors(n.address(), "resources"), 0);
    EXPECT_EQ(db_errors(n.address(), "statement"), statement_errors);
  }
  ASSERT_TRUE(disk.resize("64m"));
  ASSERT_TRUE(eventually([&] { return post() == 201; }));
  EXPECT_EQ(other, 0);
  {
    pqxx::connection conn{db.conninfo()};
    pqxx::read_transaction tx{conn};
    std::set<std::string> stored;
    for (const auto& r : tx.exec_params("SELECT id FROM outcomes WHERE playbook_id = $1", pb))
      stored.insert(r[0].c_str());
    for (const auto& id : acknowledged)
      EXPECT_EQ(stored.count(id), 1u) << id;
    EXPECT_EQ(stored.size(), acknowledged.size()) << "a refused outcome was stored";
    EXPECT_EQ(tx.exec_params("SELECT pending_outcomes FROM playbooks WHERE id = $1", pb)[0][0]
                  .as<long long>(),
              static_cast<long long>(stored.size()));
  }
  // The tablespace goes before the filesystem does.
  admin_sql(db.conninfo(), "ALTER TABLE outcomes SET TABLESPACE pg_default");
  admin_sql(db.conninfo(), "DROP TABLESPACE small");
}

// One request that its batch's transaction cannot take (here a trigger
// refuses its row) fails alone: the batch is written again request by
// request, the others are recorded, and the writer goes on with what comes.
TEST(IngestionFaults, ARequestThatBreaksItsBatchFailsAloneAndTheOthersAreRecorded) {
  auto& db = shared_database();
  auto poison = "poison-" + crypto::uuid_v7();
  {
    // A quiet writer waits 200 ms for company: the requests below share a batch.
    test_node n{db.conninfo(), [](config::settings& s) {
                  s.jobs.run_jobs = false;
                  s.outcomes.batch_delay_us = 200000;
                }};
    admin_sql(db.conninfo(),
              "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
              " IF NEW.task_description = '" + poison + "' THEN RAISE EXCEPTION 'refused'; END IF;"
              " RETURN NEW; END $$;"
              " CREATE TRIGGER refuse_poison BEFORE INSERT ON outcomes"
              " FOR EACH ROW EXECUTE FUNCTION refuse_poison()");
    auto u = make_user(n.address());
    http_client setup{n.address()};
    auto pb = make_playbook(setup, u, 1000);
    std::vector<int> statuses(12);
    std::vector<std::thread> clients;
    for (int i = 0; i < 12; ++i)
      clients.emplace_back([&, i] {
        http_client c{n.address()};
        post_outcome(c, u, pb, "success", "",
                     json{{"task_description", i == 5 ? poison : "task " + std::to_string(i)}},
                     &statuses[static_cast<std::size_t>(i)]);
      });
    for (auto& t : clients)
      t.join();
    for (int i = 0; i < 12; ++i)
      EXPECT_EQ(statuses[static_cast<std::size_t>(i)], i == 5 ? 500 : 201) << i;
    auto where = "FROM outcomes WHERE playbook_id = '" + pb + "'";
    EXPECT_EQ(scalar(db.conninfo(), "SELECT count(*) " + where), 11);
    EXPECT_EQ(scalar(db.conninfo(), "SELECT count(*) " + where + " AND task_description = '" +
                                        poison + "'"),
              0);
    EXPECT_EQ(scalar(db.conninfo(), "SELECT pending_outcomes FROM playbooks WHERE id = '" + pb +
                                        "'"),
              11);
    // The writer is not stuck behind the failure.
    auto next = post_outcome(setup, u, pb);
    EXPECT_EQ(next["pending_outcomes"], 12);
    admin_sql(db.conninfo(),
              "DROP TRIGGER refuse_poison ON outcomes; DROP FUNCTION refuse_poison()");
  }
}

// The store's pipeline: several statements in one round trip, each answered;
// a failure skips the rest, names its SQLSTATE and leaves no transaction
// open; statements queued but never run are ended too. The connection
// serves the next task either way.
TEST(StorePipeline, AnswersEachStatementAndAFailureLeavesTheConnectionClean) {
  auto& db = shared_database();
  admin_sql(db.conninfo(), "DROP TABLE IF EXISTS pipeline_probe;"
                           " CREATE TABLE pipeline_probe (v int CHECK (v > 0))");
  runtime::register_statement("test.pipeline_insert",
                              "INSERT INTO pipeline_probe (v) VALUES ($1) RETURNING v * 10");
  auto conn = runtime::open_connection(db.conninfo(), {});
  auto rows = [&] { return scalar(db.conninfo(), "SELECT count(*) FROM pipeline_probe"); };
  auto usable = [&] {
    pqxx::work tx{*conn};
    auto n = tx.exec("SELECT count(*) FROM pipeline_probe")[0][0].as<long long>();
    tx.commit();
    return n;
  };
  ASSERT_TRUE(runtime::pipeline::supported(*conn));
  pqxx::connection plain{db.conninfo()};
  EXPECT_FALSE(runtime::pipeline::supported(plain));
  {
    runtime::pipeline p{*conn, {"test.pipeline_insert"}};
    p.command("BEGIN");
    auto first = p.prepared("test.pipeline_insert", {"3"});
    auto second = p.prepared("test.pipeline_insert", {"4"});
    p.run();
    ASSERT_EQ(p.result(first).size(), 1u);
    EXPECT_STREQ(p.result(first).at(0, 0), "30");
    EXPECT_STREQ(p.result(second).at(0, 0), "40");
    EXPECT_EQ(rows(), 0); // not committed yet
    p.command("COMMIT");
    p.run();
  }
  EXPECT_EQ(rows(), 2);
  {
    runtime::pipeline p{*conn, {"test.pipeline_insert"}};
    p.command("BEGIN");
    p.prepared("test.pipeline_insert", {"5"});
    p.prepared("test.pipeline_insert", {"-1"}); // the CHECK refuses it
    p.prepared("test.pipeline_insert", {"6"});
    p.command("COMMIT");
    try {
      p.run();
      ADD_FAILURE() << "a refused row must fail the run";
    } catch (const pqxx::sql_error& e) {
      EXPECT_EQ(e.sqlstate(), "23514");
    }
  }
  EXPECT_EQ(rows(), 2);
  EXPECT_EQ(usable(), 2);
  {
    runtime::pipeline p{*conn, {"test.pipeline_insert"}};
    p.command("BEGIN");
    p.prepared("test.pipeline_insert", {"7"});
    // Never run: the destructor ends them and rolls back.
  }
  EXPECT_EQ(usable(), 2);
  EXPECT_EQ(rows(), 2);
  {
    runtime::pipeline p{*conn, {}};
    EXPECT_THROW(p.prepared("test.pipeline_insert", {"8"}), std::logic_error);
  }
  // A connection the server ended: the run says so, and the connection is
  // seen closed (the store drops it and opens another).
  auto pid = [&] {
    pqxx::nontransaction tx{*conn};
    return tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
  }();
  admin_sql(db.conninfo(), "SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  try {
    runtime::pipeline p{*conn, {"test.pipeline_insert"}};
    p.command("BEGIN");
    p.prepared("test.pipeline_insert", {"9"});
    p.command("COMMIT");
    p.run();
    ADD_FAILURE() << "a run on an ended session must fail";
  } catch (const pqxx::broken_connection&) {
  } catch (const pqxx::sql_error& e) {
    EXPECT_EQ(e.sqlstate().substr(0, 3), "57P") << e.what();
  }
  EXPECT_FALSE(conn->is_open());
  EXPECT_FALSE(runtime::pipeline::supported(*conn));
  EXPECT_EQ(rows(), 2);
  admin_sql(db.conninfo(), "DROP TABLE pipeline_probe");
}
