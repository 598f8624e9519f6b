// The cluster as an operator runs it: real `troupe gateway` and `troupe
// worker` processes on loopback, one Postgres (a fresh database per test),
// and the faults of quality.md done to them with real signals.
#include "tests/integration/fake_openai.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/stream_clients.hpp"

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace troupe::test;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

using env_map = std::map<std::string, std::string>;

// Settings every process of a test shares: short leases and timeouts so a
// dead node is noticed in seconds, noop jobs on, registration open.
env_map common_env(const std::string& conninfo) {
  return {{"TROUPE_DATABASE_URL", conninfo},
          {"TROUPE_LOG_FORMAT", "json"},
          {"TROUPE_JOBS_ENABLE_NOOP", "true"},
          {"TROUPE_JOBS_LEASE_S", "4"},
          {"TROUPE_JOBS_HEARTBEAT_MS", "500"},
          {"TROUPE_JOBS_POLL_INTERVAL_MS", "500"},
          {"TROUPE_JOBS_MAINTENANCE_INTERVAL_MS", "300"},
          {"TROUPE_CLUSTER_HEARTBEAT_INTERVAL_MS", "300"},
          // Long enough that a node stalled by a busy machine is not declared
          // gone by mistake, short enough for the fault tests to be quick.
          {"TROUPE_CLUSTER_NODE_TIMEOUT_S", "4"},
          // A worker stopped inside a transaction (the pause test) frees its
          // rows well within the lease.
          {"TROUPE_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", "1000"},
          {"TROUPE_AUTH_ALLOW_REGISTRATION", "true"},
          {"TROUPE_AUTH_LOGIN_ATTEMPTS_PER_ADDRESS", "100000"},
          {"TROUPE_EVOLUTION_MANUAL_TRIGGERS_PER_HOUR", "100000"},
          {"TROUPE_DATABASE_POOL_SIZE", "4"},
          {"TROUPE_RATE_LIMIT_REQUESTS_PER_MINUTE", "10000000"}};
}

// One troupe process: its own data directory, stdout and stderr to a log.
class troupe_process {
public:
  troupe_process(std::string role, std::vector<std::string> args, env_map env)
      : role_(std::move(role)), args_(std::move(args)), env_(std::move(env)) {
    start();
  }
  ~troupe_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGCONT);
      ::kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  troupe_process(const troupe_process&) = delete;
  troupe_process& operator=(const troupe_process&) = delete;

  void start() {
    std::filesystem::remove(dir_.path() + "/listen.addr");
    std::filesystem::remove(dir_.path() + "/worker.addr");
    std::filesystem::remove(dir_.path() + "/cluster.addr");
    node_id_.clear();
    int starts_before = 0;
    for (const auto& line : lines())
      starts_before += line.value("message", "").rfind("troupe", 0) == 0 && line.contains("node_id");
    pid_ = fork();
    if (pid_ == 0) {
      int out = open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(out, 1);
      dup2(out, 2);
      for (auto& [k, v] : env_)
        setenv(k.c_str(), v.c_str(), 1);
      std::vector<std::string> all{TROUPE_BINARY, role_, "--data-dir", dir_.path(), "--listen",
                                   "127.0.0.1:0"};
      all.insert(all.end(), args_.begin(), args_.end());
      std::vector<char*> argv;
      for (auto& a : all)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(TROUPE_BINARY, argv.data());
      _exit(127);
    }
    auto addr_file = dir_.path() + (role_ == "worker" ? "/worker.addr" : "/listen.addr");
    bool up = eventually([&] { return std::filesystem::exists(addr_file) || exited(); },
                         std::chrono::seconds{60});
    if (!up || exited())
      throw std::runtime_error(role_ + " did not start: " + slurp(log_path()));
    http_ = slurp(addr_file);
    http_.pop_back();
    if (std::filesystem::exists(dir_.path() + "/cluster.addr")) {
      cluster_ = slurp(dir_.path() + "/cluster.addr");
      cluster_.pop_back();
    }
    // The address file is written just before the start line is logged:
    // wait for the line that names the node.
    // (A restart appends to the same log: the start line counted is a new one.)
    bool named = eventually([&] {
      int starts = 0;
      for (const auto& line : lines())
        if (line.value("message", "").rfind("troupe", 0) == 0 && line.contains("node_id")) {
          ++starts;
          node_id_ = line["node_id"];
        }
      if (starts <= starts_before)
        node_id_.clear();
      return !node_id_.empty() || exited();
    });
    if (!named || node_id_.empty())
      throw std::runtime_error(role_ + " never logged its node id: " + slurp(log_path()));
  }

  bool exited() {
    if (pid_ <= 0)
      return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return true;
    }
    return false;
  }

  void signal(int sig) { ::kill(pid_, sig); }
  pid_t pid() const { return pid_; }

  // Resident memory in kB (VmRSS).
  long rss_kb() const {
    std::istringstream in{slurp("/proc/" + std::to_string(pid_) + "/status")};
    for (std::string line; std::getline(in, line);)
      if (line.rfind("VmRSS:", 0) == 0)
        return std::stol(line.substr(6));
    return -1;
  }

  // SIGKILL, reaped.
  void kill() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // SIGTERM and the exit code once it drained.
  int stop() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // The JSON log lines so far.
  std::vector<json> lines() const {
    std::vector<json> out;
    std::istringstream in{slurp(log_path())};
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_object())
        out.push_back(std::move(j));
    }
    return out;
  }
  int count_lines(const std::string& message) const {
    int n = 0;
    for (const auto& l : lines())
      n += l.value("message", "") == message;
    return n;
  }

  std::string log_path() const { return dir_.path() + "/troupe.log"; }
  const std::string& http() const { return http_; }
  const std::string& cluster() const { return cluster_; }
  const std::string& node_id() const { return node_id_; }

private:
  temp_dir dir_;
  std::string role_;
  std::vector<std::string> args_;
  env_map env_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string http_, cluster_, node_id_;
};

env_map with(env_map base, const env_map& more) {
  for (const auto& [k, v] : more)
    base[k] = v;
  return base;
}

std::unique_ptr<troupe_process> gateway(const env_map& env,
                                        const std::string& cluster_listen = "127.0.0.1:0") {
  return std::make_unique<troupe_process>(
      "gateway", std::vector<std::string>{"--cluster-listen", cluster_listen}, env);
}

std::unique_ptr<troupe_process> worker(const env_map& env, const std::string& join) {
  return std::make_unique<troupe_process>("worker", std::vector<std::string>{"--join", join},
                                          env);
}

// Which node started each attempt of each job: the job.started events.
std::map<std::string, int> starts_by_node(const std::string& conninfo) {
  pqxx::connection c{conninfo};
  pqxx::nontransaction tx{c};
  std::map<std::string, int> out;
  for (const auto& r : tx.exec("SELECT data->>'node', count(*) FROM events"
                               " WHERE topic = 'job.started' GROUP BY 1"))
    out[r[0].c_str()] = r[1].as<int>();
  return out;
}

// Inserts `n` noop jobs (with the NOTIFY a producer sends) in one statement;
// `payload` says how long each takes (actors/job_runner/noop.cpp).
void enqueue_noops(const std::string& conninfo, const std::string& user_id, int n,
                   const json& payload = {{"step_ms", 1}}) {
  pqxx::connection c{conninfo};
  pqxx::work tx{c};
  tx.exec_params("INSERT INTO jobs (id, kind, user_id, payload)"
                 " SELECT gen_random_uuid(), 'noop', $1, $3::jsonb FROM generate_series(1, $2)",
                 user_id, n, payload.dump());
  tx.exec("SELECT pg_notify('troupe_jobs', 'noop')");
  tx.commit();
}

const std::string ace =
    "## STRATEGIES & INSIGHTS\n"
    "[sai-00001] helpful=0 harmful=0 :: Check the API's pagination before concluding.\n";

// A playbook with one bullet whose evolutions always write a new version
// (the outcomes move its counter).
std::string evolving_playbook(http_client& c, const user& u) {
  return make_playbook(c, u, 3, ace);
}

// Three successful outcomes citing the bullet, through a gateway: with
// threshold 3, the third queues an evolution; answers its job id.
std::string outcomes_to_threshold(http_client& c, const user& u, const std::string& pb) {
  json last;
  for (int i = 0; i < 3; ++i)
    last = post_outcome(c, u, pb, "success", "", {{"bullet_ids", {"sai-00001"}}});
  return last["evolution"]["job_id"].get<std::string>();
}

long long count(const std::string& conninfo, const std::string& sql) { return scalar(conninfo, sql); }

// The settings of a worker whose evolutions ask a (fake) model, which the
// test can hold mid-request: an evolution then stays running on that worker.
env_map llm_env(env_map base, const fake_openai& model) {
  return with(std::move(base), {{"TROUPE_EVOLUTION_ENGINE", "llm"},
                                {"TROUPE_LLM_BASE_URL", model.base_url()},
                                {"TROUPE_LLM_API_KEY_ENV", ""},
                                {"TROUPE_LLM_MAX_RETRIES", "0"},
                                {"TROUPE_LLM_TIMEOUT_MS", "120000"}});
}

// A fake model that holds every request while `hold` is set; released ones
// get an answer that is not JSON, so the engine falls back to its builtin
// rules and the evolution completes.
struct held_model {
  fake_openai server;
  std::mutex mutex;
  std::condition_variable cv;
  bool hold = true;
  std::atomic<int> arrived{0};

  held_model() {
    server.respond_with([this](const recorded_request&) -> std::optional<behaviour> {
      ++arrived;
      std::unique_lock lock{mutex};
      cv.wait(lock, [this] { return !hold; });
      return not_json();
    });
  }
  ~held_model() { release(); }
  void release() {
    {
      std::lock_guard guard{mutex};
      hold = false;
    }
    cv.notify_all();
  }
};

std::string lease_owner(const std::string& conninfo, const std::string& job) {
  pqxx::connection c{conninfo};
  pqxx::nontransaction tx{c};
  auto r = tx.exec_params("SELECT coalesce(lease_owner, '') FROM jobs WHERE id = $1", job);
  return r.empty() ? "" : r[0][0].c_str();
}

// Two workers whose evolutions ask a held model, and one evolution queued
// through a gateway: once started() the job runs on `owner`, its model call
// held, for the test to fault that worker.
struct held_evolution {
  std::string db;
  held_model model;
  env_map env;
  std::unique_ptr<troupe_process> gw, w1, w2;
  user u;
  std::string pb, job, owner;

  explicit held_evolution(const std::string& database)
      : db(fresh_database(database)), env(common_env(db)) {
    gw = gateway(env);
    w1 = worker(llm_env(env, model.server), gw->cluster());
    w2 = worker(llm_env(env, model.server), gw->cluster());
    u = make_user(gw->http());
    http_client c{gw->http()};
    pb = evolving_playbook(c, u);
    job = outcomes_to_threshold(c, u, pb);
  }
  // Waits for the model call; false when it never came.
  bool started() {
    if (!eventually([&] { return model.arrived.load() >= 1; }))
      return false;
    owner = lease_owner(db, job);
    return true;
  }
  std::unique_ptr<troupe_process>& owner_process() { return owner == w1->node_id() ? w1 : w2; }
  std::unique_ptr<troupe_process>& other_process() { return owner == w1->node_id() ? w2 : w1; }
};

} // namespace

// Two workers joined to one gateway share 2,000 noop jobs and 20 evolutions:
// both do some, and each job completes exactly once.
TEST(Cluster, TwoWorkersShareTheWork) {
  auto db = fresh_database("cluster_share");
  // At most 100 at once per worker: neither can take the whole queue.
  auto env = with(common_env(db), {{"TROUPE_JOBS_NOOP_CONCURRENCY", "100"}});
  auto gw = gateway(env);
  auto w1 = worker(env, gw->cluster());
  auto w2 = worker(env, gw->cluster());
  ASSERT_TRUE(eventually([&] { return gw->count_lines("a node joined the cluster") == 2; }));
  auto u = make_user(gw->http());
  http_client c{gw->http()};
  enqueue_noops(db, u.id, 2000);
  std::vector<std::string> evolutions;
  for (int i = 0; i < 20; ++i)
    evolutions.push_back(outcomes_to_threshold(c, u, evolving_playbook(c, u)));
  ASSERT_TRUE(eventually(
      [&] { return count(db, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 2020; },
      std::chrono::seconds{120}))
      << count(db, "SELECT count(*) FROM jobs WHERE status = 'completed'");
  // Exactly once: one start and one completion per job, every outcome once.
  EXPECT_EQ(count(db, "SELECT count(*) FROM events WHERE topic = 'job.started'"), 2020);
  EXPECT_EQ(count(db, "SELECT count(*) FROM events WHERE topic = 'job.completed'"), 2020);
  EXPECT_EQ(count(db, "SELECT count(*) FROM outcomes WHERE processed_at IS NULL"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM playbook_versions"), 20 + 20);
  auto starts = starts_by_node(db);
  EXPECT_GT(starts[w1->node_id()], 0) << json(starts).dump();
  EXPECT_GT(starts[w2->node_id()], 0) << json(starts).dump();
  EXPECT_EQ(starts.count(gw->node_id()), 0u) << "a gateway runs no jobs";
  // /v1/status lists all three nodes, up.
  auto status = c.send("GET", "/v1/status").doc();
  std::set<std::string> up;
  for (const auto& n : status["nodes"])
    if (n["up"].get<bool>())
      up.insert(n["role"].get<std::string>() + ":" + n["id"].get<std::string>());
  EXPECT_EQ(up, (std::set<std::string>{"gateway:" + gw->node_id(), "worker:" + w1->node_id(),
                                       "worker:" + w2->node_id()}));
  // A worker answers only its health and metrics routes.
  http_client wc{w1->http()};
  EXPECT_EQ(wc.send("GET", "/readyz").status, 200);
  EXPECT_EQ(wc.send("GET", "/metrics").status, 200);
  EXPECT_EQ(wc.send("GET", "/v1/status").status, 404);
  EXPECT_EQ(wc.send("GET", "/v1/playbooks", "", u.auth()).status, 404);
  EXPECT_EQ(w1->stop(), 0);
  EXPECT_EQ(w2->stop(), 0);
  EXPECT_EQ(gw->stop(), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM nodes"), 0) << "stopped nodes leave the registry";
  EXPECT_EQ(count(db, "SELECT count(*) FROM events WHERE topic = 'node.joined'"), 3);
  EXPECT_EQ(count(db, "SELECT count(*) FROM events WHERE topic = 'node.left'"), 3);
}

// `troupe serve` stays all-in-one and also accepts workers: both run jobs.
TEST(Cluster, ServeAcceptsWorkersAndBothRunJobs) {
  auto db = fresh_database("cluster_serve");
  // Few at once per node, so that one claim cannot take them all.
  auto env = with(common_env(db), {{"TROUPE_JOBS_NOOP_CONCURRENCY", "20"}});
  auto serve = std::make_unique<troupe_process>(
      "serve", std::vector<std::string>{"--cluster-listen", "127.0.0.1:0"}, env);
  auto w = worker(env, serve->cluster());
  ASSERT_TRUE(eventually([&] { return serve->count_lines("a node joined the cluster") == 1; }));
  auto u = make_user(serve->http());
  // Jobs that take a while each, so both runners get some.
  enqueue_noops(db, u.id, 400, {{"steps", 2}, {"step_ms", 20}});
  ASSERT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 400;
  }));
  auto starts = starts_by_node(db);
  EXPECT_GT(starts[serve->node_id()], 0) << json(starts).dump();
  EXPECT_GT(starts[w->node_id()], 0) << json(starts).dump();
  EXPECT_EQ(starts[serve->node_id()] + starts[w->node_id()], 400);
}

// SIGTERM a worker with jobs running: it gives their leases back (or finishes
// them) and exits 0; the other worker completes every job, none twice.
TEST(Cluster, AWorkerStoppedUnderLoadHandsItsJobsBack) {
  auto db = fresh_database("cluster_drain");
  // 20 at once per worker: each worker holds half of the 40 jobs.
  auto env = with(common_env(db), {{"TROUPE_SERVER_SHUTDOWN_GRACE_S", "1"},
                                   {"TROUPE_JOBS_NOOP_CONCURRENCY", "20"}});
  auto gw = gateway(env);
  auto w1 = worker(env, gw->cluster());
  auto w2 = worker(env, gw->cluster());
  auto u = make_user(gw->http());
  // Long enough (5 s each) that the drain finds them running.
  enqueue_noops(db, u.id, 40, {{"steps", 50}, {"step_ms", 100}});
  ASSERT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM jobs WHERE status = 'running' AND lease_owner = '" +
                         w1->node_id() + "'") > 0;
  }));
  EXPECT_EQ(w1->stop(), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM jobs WHERE status = 'running' AND lease_owner = '" +
                          w1->node_id() + "'"),
            0)
      << "a drained worker holds no lease";
  ASSERT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 40;
  }, std::chrono::seconds{120}));
  EXPECT_EQ(count(db, "SELECT count(*) FROM events WHERE topic = 'job.completed'"), 40);
  EXPECT_EQ(count(db, "SELECT count(*) FROM jobs WHERE status <> 'completed'"), 0);
}

// SIGKILL a worker in the middle of an evolution: the leader declares it gone,
// another worker runs the job again, exactly one new version, every snapshot
// outcome processed exactly once.
TEST(Cluster, AWorkerKilledMidEvolutionIsReplacedAndTheVersionIsWrittenOnce) {
  held_evolution run{"cluster_kill"};
  ASSERT_TRUE(run.started());
  auto& db = run.db;
  auto& model = run.model;
  const auto& pb = run.pb;
  const auto& job = run.job;
  const auto& owner = run.owner;
  auto& victim = run.owner_process();
  auto& survivor = run.other_process();
  ASSERT_EQ(victim->node_id(), owner);
  victim->kill();
  model.release(); // the survivor's requests are answered at once
  ASSERT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM jobs WHERE id = '" + job + "' AND status = 'completed'") == 1;
  })) << slurp(survivor->log_path());
  EXPECT_EQ(count(db, "SELECT attempt FROM jobs WHERE id = '" + job + "'"), 2);
  EXPECT_EQ(lease_owner(db, job), "");
  EXPECT_EQ(count(db, "SELECT count(*) FROM playbook_versions WHERE playbook_id = '" + pb + "'"), 2);
  EXPECT_EQ(count(db, "SELECT count(*) FROM outcomes WHERE playbook_id = '" + pb +
                          "' AND processed_at IS NOT NULL AND evolution_job_id = '" + job + "'"),
            3);
  EXPECT_EQ(count(db, "SELECT pending_outcomes FROM playbooks WHERE id = '" + pb + "'"), 0);
  auto starts = starts_by_node(db);
  EXPECT_EQ(starts[victim->node_id()], 1);
  EXPECT_EQ(starts[survivor->node_id()], 1);
  // The registry says what happened. The job's lease and the node timeout
  // run out together (both 4 s), so the job may be taken back by either
  // sweep and completed before the leader's next pass retires the node.
  EXPECT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM events WHERE topic = 'node.left' AND data->>'node_id' = '" +
                         owner + "' AND data->>'reason' = 'heartbeat timeout'") == 1;
  }));
  EXPECT_EQ(count(db, "SELECT count(*) FROM nodes WHERE id = '" + owner + "' AND left_at IS NOT NULL"),
            1);
}

// SIGSTOP a worker past its lease: another takes the job; on SIGCONT the
// first one's commit is refused by the fence (no second version), and the
// resumed worker carries on with other jobs.
TEST(Cluster, AWorkerPausedPastItsLeaseIsFencedAndCarriesOn) {
  held_evolution run{"cluster_pause"};
  ASSERT_TRUE(run.started());
  auto& db = run.db;
  auto& model = run.model;
  auto& u = run.u;
  const auto& pb = run.pb;
  const auto& job = run.job;
  const auto& owner = run.owner;
  auto& paused = run.owner_process();
  auto& other = run.other_process();
  ASSERT_EQ(paused->node_id(), owner);
  paused->signal(SIGSTOP);
  // The other worker's request is held too until the job moved to it.
  ASSERT_TRUE(eventually([&] { return lease_owner(db, job) == other->node_id(); }))
      << lease_owner(db, job);
  model.release();
  ASSERT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM jobs WHERE id = '" + job + "' AND status = 'completed'") == 1;
  }));
  // The paused worker wakes with its model answer (or a timed-out call) in
  // hand: its heartbeat or its fenced commit finds the lease gone, whichever
  // comes first, and nothing of its attempt is committed.
  paused->signal(SIGCONT);
  ASSERT_TRUE(eventually([&] {
    return paused->count_lines("a job's lease was lost; its result was not committed") >= 1;
  })) << slurp(paused->log_path());
  EXPECT_EQ(count(db, "SELECT count(*) FROM playbook_versions WHERE playbook_id = '" + pb + "'"), 2);
  EXPECT_EQ(count(db, "SELECT count(*) FROM events WHERE job_id = '" + job +
                          "' AND topic = 'job.completed'"),
            1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM outcomes WHERE playbook_id = '" + pb +
                          "' AND evolution_job_id = '" + job + "'"),
            3);
  // It is back in the registry and takes work: with the other worker
  // stopped, it alone runs the next jobs.
  ASSERT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM nodes WHERE id = '" + paused->node_id() +
                         "' AND left_at IS NULL") == 1;
  }));
  EXPECT_EQ(other->stop(), 0);
  enqueue_noops(db, u.id, 50);
  ASSERT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM jobs WHERE kind = 'noop' AND status = 'completed'") == 50;
  }));
  EXPECT_EQ(starts_by_node(db)[paused->node_id()], 1 + 50);
}

// 1,000 evolution triggers for one playbook from 4 client processes through
// 2 gateways: exactly one job, every response names it.
TEST(Cluster, ConcurrentTriggersThroughTwoGatewaysMakeOneJob) {
  auto db = fresh_database("cluster_triggers");
  auto env = common_env(db);
  auto a = gateway(env);
  auto b = gateway(env);
  auto u = make_user(a->http());
  http_client c{a->http()};
  auto pb = make_playbook(c, u, 1000);
  post_outcome(c, u, pb); // something to evolve
  temp_dir out;
  std::vector<pid_t> clients;
  for (int i = 0; i < 4; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      int code = 0;
      try {
        http_client mine{i % 2 == 0 ? a->http() : b->http()};
        std::ofstream ids{out.path() + "/" + std::to_string(i)};
        for (int k = 0; k < 250; ++k) {
          auto r = mine.send("POST", "/v1/playbooks/" + pb + "/evolutions", "", u.auth());
          auto d = r.doc();
          ids << r.status << " " << d.value("job_id", std::string{"?"}) << "\n";
        }
      } catch (...) {
        code = 1;
      }
      _exit(code);
    }
    clients.push_back(pid);
  }
  for (auto pid : clients) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(count(db, "SELECT count(*) FROM jobs WHERE kind = 'evolution'"), 1);
  auto job = scalar(db, "SELECT count(DISTINCT id) FROM jobs");
  EXPECT_EQ(job, 1);
  std::set<std::string> named;
  int answers = 0;
  for (int i = 0; i < 4; ++i) {
    std::istringstream in{slurp(out.path() + "/" + std::to_string(i))};
    int status = 0;
    std::string id;
    while (in >> status >> id) {
      ++answers;
      EXPECT_TRUE(status == 202 || status == 200) << status;
      named.insert(id);
    }
  }
  EXPECT_EQ(answers, 1000);
  EXPECT_EQ(named.size(), 1u) << json(named).dump();
}

// A WebSocket on gateway A receives the events of a job run on a worker, in
// order, without waiting for A's event poll (set to a minute here): the
// worker's store wakes A's bridge over the cluster link.
TEST(Cluster, AWorkersEventsReachAWebSocketOnAGatewayAtOnce) {
  auto db = fresh_database("cluster_events");
  auto env = common_env(db);
  auto a = gateway(with(env, {{"TROUPE_EVENTS_POLL_INTERVAL_MS", "60000"}}));
  auto w = worker(env, a->cluster());
  ASSERT_TRUE(eventually([&] { return a->count_lines("a node joined the cluster") == 1; }));
  auto u = make_user(a->http());
  http_client c{a->http()};
  auto pb = evolving_playbook(c, u);
  ws_client ws{a->http(), u.access_token, "?playbook_id=" + pb};
  auto started = std::chrono::steady_clock::now();
  auto job = outcomes_to_threshold(c, u, pb);
  std::vector<std::string> topics;
  long long last_id = 0, version_event = 0;
  double received_ms = 0;
  bool ordered = true;
  auto has = [&](const std::string& t) {
    return std::find(topics.begin(), topics.end(), t) != topics.end();
  };
  while (!has("job.completed") || !has("playbook.version_created")) {
    auto e = ws.next();
    ASSERT_TRUE(e) << "the stream went quiet after " << json(topics).dump();
    ordered = ordered && e->id > last_id;
    last_id = e->id;
    // (The playbook's first version may be announced too, depending on
    // when the subscription started: only the evolution's counts.)
    bool evolved = e->topic == "playbook.version_created" && e->data.value("version", 0) == 2;
    if (evolved) {
      received_ms = std::chrono::duration<double, std::milli>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
      version_event = e->id;
    }
    bool ours = e->data.contains("job_id") && e->data["job_id"].is_string() &&
                e->data["job_id"].get<std::string>() == job;
    if (ours || evolved)
      topics.push_back(e->topic);
  }
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(ordered);
  // The version is announced after the completion it belongs to (the
  // evolution commit writes both, in that order).
  std::vector<std::string> expected{"job.started", "job.completed", "playbook.version_created"};
  std::vector<std::string> seen;
  for (const auto& t : topics)
    if (std::find(expected.begin(), expected.end(), t) != expected.end() &&
        (seen.empty() || seen.back() != t))
      seen.push_back(t);
  EXPECT_EQ(seen, expected) << json(topics).dump();
  // Far inside the minute a poll would take: from the commit that wrote the
  // version (clock_timestamp at its last statement) to the frame here.
  auto written_ms = scalar(db, "SELECT (extract(epoch FROM created_at) * 1000)::bigint FROM events"
                               " WHERE id = " + std::to_string(version_event));
  auto latency_ms = received_ms - static_cast<double>(written_ms);
  std::cerr << "worker event → gateway WebSocket: " << latency_ms << " ms after its transaction began\n";
  EXPECT_LT(latency_ms, 2000);
  EXPECT_LT(took, std::chrono::seconds{20});
  EXPECT_GE(starts_by_node(db)[w->node_id()], 1) << "the worker ran the job";
}

// A key revoked through gateway A is refused by gateway B, whose cache
// would otherwise keep it for ten minutes.
TEST(Cluster, AKeyRevokedOnOneGatewayIsRefusedByAnother) {
  auto db = fresh_database("cluster_revoke");
  auto env = with(common_env(db), {{"TROUPE_AUTH_CACHE_TTL_MS", "600000"}});
  auto a = gateway(env);
  auto b = gateway(env);
  auto u = make_user(a->http());
  auto key = make_key(a->http(), u, json::array({"playbooks:read"}));
  http_client ca{a->http()}, cb{b->http()};
  ASSERT_EQ(cb.send("GET", "/v1/playbooks", "", bearer(key)).status, 200); // cached on B now
  auto keys = ca.send("GET", "/v1/auth/api-keys", "", u.auth()).doc();
  ASSERT_EQ(keys["items"].size(), 1u);
  auto id = keys["items"][0]["id"].get<std::string>();
  ASSERT_EQ(ca.send("DELETE", "/v1/auth/api-keys/" + id, "", u.auth()).status, 204);
  auto first = cb.send("GET", "/v1/playbooks", "", bearer(key)).status;
  // The revocation reaches B through Postgres' NOTIFY in milliseconds; the
  // first request after the 204 may only race it by that much.
  EXPECT_TRUE(eventually([&] { return cb.send("GET", "/v1/playbooks", "", bearer(key)).status == 401; },
                         std::chrono::seconds{2}));
  if (first != 401)
    std::cerr << "note: the first request after the revoke beat the notification\n";
}

// The gateway is restarted while workers run: jobs keep completing while it
// is away, the workers rejoin by themselves, /v1/status lists every node.
TEST(Cluster, WorkersCarryOnWhileTheGatewayRestartsAndRejoin) {
  auto db = fresh_database("cluster_restart");
  auto env = common_env(db);
  auto gw = gateway(env);
  auto port = gw->cluster();
  auto w1 = worker(env, port);
  auto w2 = worker(env, port);
  ASSERT_TRUE(eventually([&] { return gw->count_lines("a node joined the cluster") == 2; }));
  auto u = make_user(gw->http());
  EXPECT_EQ(gw->stop(), 0);
  // No gateway: the workers still take jobs from the database.
  enqueue_noops(db, u.id, 200);
  ASSERT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 200;
  }));
  auto again = gateway(env, port);
  ASSERT_TRUE(eventually([&] { return again->count_lines("a node joined the cluster") == 2; }))
      << slurp(again->log_path());
  http_client c{again->http()};
  auto status = c.send("GET", "/v1/status").doc();
  std::set<std::string> up;
  for (const auto& n : status["nodes"])
    if (n["up"].get<bool>())
      up.insert(n["id"].get<std::string>());
  EXPECT_EQ(up, (std::set<std::string>{again->node_id(), w1->node_id(), w2->node_id()}));
  // And the rejoined workers are nudged again: an evolution through the new
  // gateway completes.
  auto pb = evolving_playbook(c, u);
  auto job = outcomes_to_threshold(c, u, pb);
  EXPECT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM jobs WHERE id = '" + job + "' AND status = 'completed'") == 1;
  }));
}

// The link is not an open door: a worker with a certificate of another CA,
// and one with the wrong secret, are refused (the gateway logs the secret
// refusal) and never take a job, while an admitted worker does them all.
TEST(Cluster, NodesWithAWrongCertificateOrSecretAreRefusedAndGetNoJob) {
  auto db = fresh_database("cluster_auth");
  temp_dir certs, foreign;
  auto script = std::string{TROUPE_SOURCE_DIR} + "/deploy/cluster-certs.sh";
  ASSERT_EQ(std::system((script + " " + certs.path() + " gw w1 w2 2>/dev/null").c_str()), 0);
  ASSERT_EQ(std::system((script + " " + foreign.path() + " w3 2>/dev/null").c_str()), 0);
  auto tls = [](const std::string& dir, const std::string& node, const std::string& ca_dir) {
    return env_map{{"TROUPE_CLUSTER_CERTIFICATE", dir + "/" + node + ".pem"},
                   {"TROUPE_CLUSTER_KEY", dir + "/" + node + ".key"},
                   {"TROUPE_CLUSTER_CA", ca_dir + "/ca.pem"}};
  };
  auto secret = env_map{{"TROUPE_CLUSTER_SECRET", "a-cluster-secret-of-some-length"}};
  auto env = common_env(db);
  auto gw = gateway(with(with(env, secret), tls(certs.path(), "gw", certs.path())));
  auto good = worker(with(with(env, secret), tls(certs.path(), "w1", certs.path())), gw->cluster());
  auto wrong_secret =
      worker(with(with(env, {{"TROUPE_CLUSTER_SECRET", "not-the-cluster-secret"}}),
                  tls(certs.path(), "w2", certs.path())),
             gw->cluster());
  auto wrong_ca =
      worker(with(with(env, secret), tls(foreign.path(), "w3", foreign.path())), gw->cluster());
  ASSERT_TRUE(eventually([&] { return gw->count_lines("a node joined the cluster") == 1; }));
  ASSERT_TRUE(eventually([&] {
    return gw->count_lines("refused a node: it did not prove the cluster secret") >= 1;
  })) << slurp(gw->log_path());
  ASSERT_TRUE(eventually([&] {
    return wrong_secret->count_lines("refused a gateway: it did not prove the cluster secret") >= 1;
  }));
  ASSERT_TRUE(eventually([&] {
    for (const auto& l : wrong_ca->lines())
      if (l.value("message", "").rfind("could not join a gateway", 0) == 0 &&
          l.value("error", "").find("handshake") != std::string::npos)
        return true;
    return false;
  })) << slurp(wrong_ca->log_path());
  for (auto* p : {wrong_secret.get(), wrong_ca.get()})
    EXPECT_TRUE(eventually([&] {
      return p->count_lines("a gateway refused this node's cluster credentials: it takes no jobs "
                            "until it is admitted (check cluster.secret and the TLS files)") == 1;
    })) << slurp(p->log_path());
  auto u = make_user(gw->http());
  enqueue_noops(db, u.id, 300);
  ASSERT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 300;
  }));
  auto starts = starts_by_node(db);
  EXPECT_EQ(starts[good->node_id()], 300) << json(starts).dump();
  EXPECT_EQ(starts.count(wrong_secret->node_id()), 0u);
  EXPECT_EQ(starts.count(wrong_ca->node_id()), 0u);
  // The secret never appears in a log.
  for (auto* p : {gw.get(), good.get(), wrong_secret.get(), wrong_ca.get()})
    EXPECT_EQ(slurp(p->log_path()).find("a-cluster-secret-of-some-length"), std::string::npos);
}

// A peer without a certificate cannot reach CAF's message reader through the
// TLS port: a BASP header announcing a 2 GiB payload, followed by 64 MiB,
// leaves the gateway's memory where it was (without TLS the same bytes grow
// it by gigabytes: docs/cluster.md), and the gateway keeps serving.
TEST(Cluster, APeerWithoutACertificateCannotMakeTheGatewayAllocate) {
  auto db = fresh_database("cluster_alloc");
  temp_dir certs;
  auto script = std::string{TROUPE_SOURCE_DIR} + "/deploy/cluster-certs.sh";
  ASSERT_EQ(std::system((script + " " + certs.path() + " gw 2>/dev/null").c_str()), 0);
  auto gw = gateway(with(common_env(db), {{"TROUPE_CLUSTER_CERTIFICATE", certs.path() + "/gw.pem"},
                                          {"TROUPE_CLUSTER_KEY", certs.path() + "/gw.key"},
                                          {"TROUPE_CLUSTER_CA", certs.path() + "/ca.pem"}}));
  auto before = gw->rss_kb();
  {
    boost::asio::io_context io;
    tcp::socket s{io};
    auto [host, port] = host_port(gw->cluster());
    s.connect({boost::asio::ip::make_address(host), static_cast<unsigned short>(std::stoi(port))});
    // operation client_handshake, flags 0, payload_len 0x7ffffff0, BASP version 3.
    std::string header{"\x01\x00\x00\x00\x7f\xff\xff\xf0", 8};
    header += std::string{"\x00\x00\x00\x00\x00\x00\x00\x03", 8};
    header += std::string(16, '\0');
    boost::system::error_code ec;
    boost::asio::write(s, boost::asio::buffer(header), ec);
    std::string chunk(1 << 20, '\0');
    for (int i = 0; i < 64 && !ec; ++i)
      boost::asio::write(s, boost::asio::buffer(chunk), ec);
    // The TLS layer cuts the connection at the first bytes that are no handshake.
    EXPECT_TRUE(ec) << "the gateway read 64 MiB of garbage without closing";
  }
  auto after = gw->rss_kb();
  EXPECT_LT(after - before, 64 * 1024) << before << " kB → " << after << " kB";
  http_client c{gw->http()};
  EXPECT_EQ(c.send("GET", "/readyz").status, 200);
}

// Postgres goes away for longer than the node timeout: nobody could
// heartbeat, so nobody is declared gone for it. The running jobs keep their
// attempt (their leases outlast the outage) and complete once, on the worker
// that held them.
TEST(Cluster, AnOutageLongerThanTheNodeTimeoutRetiresNobody) {
  test_database own; // a cluster of its own: this test stops it
  auto db = own.conninfo();
  auto env = with(common_env(db), {{"TROUPE_JOBS_LEASE_S", "60"}});
  auto gw = gateway(env);
  auto w = worker(env, gw->cluster());
  auto u = make_user(gw->http());
  enqueue_noops(db, u.id, 5, {{"steps", 100}, {"step_ms", 100}}); // 10 s each
  ASSERT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM jobs WHERE status = 'running'") == 5;
  }));
  own.pg->stop();
  // The outage lasts until the worker has missed 20 heartbeats in a row
  // (every 300 ms: 6 s, past the node timeout of 4 s, inside the leases).
  auto missed = [&] { return w->count_lines("node heartbeat failed"); };
  auto before = missed();
  ASSERT_TRUE(eventually([&] { return missed() >= before + 20; }));
  own.pg->start();
  ASSERT_TRUE(eventually([&] {
    return count(db, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 5;
  }, std::chrono::seconds{60}));
  EXPECT_EQ(count(db, "SELECT max(attempt) FROM jobs"), 1) << "no job was rescued";
  EXPECT_EQ(count(db, "SELECT count(*) FROM events WHERE topic = 'node.left'"), 0);
  EXPECT_EQ(starts_by_node(db)[w->node_id()], 5);
}

namespace {

// Runs a Postgres client program (pg_basebackup) to completion; its output
// goes to `log`. False when it did not exit 0.
bool run_program(const std::vector<std::string>& argv, const env_map& env, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(out, 1);
    dup2(out, 2);
    for (const auto& [k, v] : env)
      setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// A value of libpq's key=value syntax, from a connection string.
std::string conninfo_value(const std::string& conninfo, const std::string& key) {
  std::istringstream in{conninfo};
  for (std::string word; in >> word;)
    if (word.rfind(key + "=", 0) == 0)
      return word.substr(key.size() + 1);
  return "";
}

// A primary and a streaming standby that it replicates to synchronously, as
// the operations guide tells an operator to run them: the standby is a
// pg_basebackup of the primary, named `replica` in its primary_conninfo, and
// the primary's synchronous_standby_names waits for it on every commit.
// Both keep fsync and synchronous_commit on.
struct replicated_postgres {
  temp_dir primary_dir, standby_dir;
  std::unique_ptr<troupe::runtime::embedded_postgres> primary, standby;

  replicated_postgres() {
    troupe::runtime::embedded_postgres_options o;
    o.data_dir = primary_dir.path();
    primary = std::make_unique<troupe::runtime::embedded_postgres>(o);
    primary->start();
    auto p = primary->connection_string();
    auto backup = standby_dir.path() + "/postgres";
    auto bindir = troupe::runtime::find_postgres_bindir();
    if (!run_program({bindir + "/pg_basebackup", "-h", primary->cluster_dir(), "-p", "5432",
                      "-U", "troupe", "-D", backup, "-R", "-X", "stream", "-c", "fast"},
                     {{"PGPASSWORD", conninfo_value(p, "password")}},
                     standby_dir.path() + "/basebackup.log"))
      throw std::runtime_error("pg_basebackup failed: " + slurp(standby_dir.path() + "/basebackup.log"));
    // The copy holds the primary's socket lock file (its socket lives in its
    // data directory): the standby has a socket of its own.
    std::filesystem::remove(backup + "/.s.PGSQL.5432.lock");
    // The standby's name, which synchronous_standby_names refers to.
    auto auto_conf = backup + "/postgresql.auto.conf";
    auto text = slurp(auto_conf);
    auto at = text.find("primary_conninfo = '");
    if (at == std::string::npos)
      throw std::runtime_error("pg_basebackup -R wrote no primary_conninfo: " + text);
    text.insert(at + std::string{"primary_conninfo = '"}.size(), "application_name=replica ");
    std::ofstream{auto_conf, std::ios::trunc} << text;
    std::filesystem::copy_file(primary_dir.path() + "/postgres.password",
                               standby_dir.path() + "/postgres.password");
    troupe::runtime::embedded_postgres_options so;
    so.data_dir = standby_dir.path();
    standby = std::make_unique<troupe::runtime::embedded_postgres>(so);
    standby->start();
    {
      pqxx::connection c{p};
      pqxx::nontransaction tx{c};
      tx.exec("ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (replica)'");
      tx.exec("SELECT pg_reload_conf()");
    }
    if (!eventually([&] {
          return count(p, "SELECT count(*) FROM pg_stat_replication"
                          " WHERE application_name = 'replica' AND sync_state = 'sync'") == 1;
        }))
      throw std::runtime_error("the standby never became synchronous");
  }

  // What every troupe node is given: both servers, the one taking writes.
  std::string url() const {
    auto p = primary->connection_string();
    return "host=" + primary->cluster_dir() + "," + standby->cluster_dir() +
           " port=5432 user=troupe password=" + conninfo_value(p, "password") +
           " dbname=troupe target_session_attrs=read-write";
  }

  // The primary's machine is lost: SIGKILL for the postmaster and every
  // process it started, nothing flushed or shut down.
  void crash_primary() {
    std::ifstream pidfile{primary->cluster_dir() + "/postmaster.pid"};
    pid_t postmaster = 0;
    pidfile >> postmaster;
    ASSERT_GT(postmaster, 0);
    std::vector<pid_t> children;
    for (const auto& entry : std::filesystem::directory_iterator{"/proc"}) {
      auto name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos)
        continue;
      std::istringstream status{slurp(entry.path().string() + "/status")};
      for (std::string line; std::getline(status, line);)
        if (line.rfind("PPid:", 0) == 0 && std::stoi(line.substr(5)) == postmaster)
          children.push_back(std::stoi(name));
    }
    ::kill(postmaster, SIGKILL);
    for (auto pid : children)
      ::kill(pid, SIGKILL);
  }

  // The operator's failover: the standby takes over (pg_promote waits until
  // it takes writes).
  void promote_standby() {
    pqxx::connection c{standby->connection_string()};
    pqxx::nontransaction tx{c};
    ASSERT_TRUE(tx.exec("SELECT pg_promote(true, 60)")[0][0].as<bool>());
  }
};

} // namespace

// The primary is lost under outcome and evolution load and its synchronous
// standby promoted. Requests during the switch get 503 with Retry-After and
// nothing else; the nodes find the new primary through their multi-host URL
// without a restart; every outcome answered 201 is on it; no evolution writes
// a second version; and the scheduler's leader lock and the LISTEN sessions
// are back on the new primary.
TEST(Failover, APromotedSynchronousStandbyHasEveryAcknowledgedOutcome) {
  replicated_postgres pg;
  auto url = pg.url();
  // Polling once in two minutes: a job started sooner was woken by NOTIFY.
  auto env = with(common_env(url), {{"TROUPE_JOBS_POLL_INTERVAL_MS", "120000"},
                                    {"TROUPE_DATABASE_RECONNECT_MAX_BACKOFF_MS", "200"}});
  auto gw = gateway(env);
  auto w = worker(env, gw->cluster());
  auto u = make_user(gw->http());
  std::vector<std::string> playbooks;
  {
    http_client c{gw->http()};
    for (int i = 0; i < 4; ++i)
      playbooks.push_back(make_playbook(c, u, 5, ace, "failover-" + std::to_string(i)));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> unavailable{0}, without_retry_after{0}, dropped{0};
  std::mutex mutex;
  std::vector<std::string> acknowledged;
  std::map<int, int> other; // status → count, for anything but 201 and 503
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t)
    clients.emplace_back([&, t] {
      std::unique_ptr<http_client> c;
      for (int i = 0; !stop; ++i) {
        try {
          if (!c)
            c = std::make_unique<http_client>(gw->http());
          auto pb = playbooks[static_cast<std::size_t>(i + t) % playbooks.size()];
          auto r = c->send("POST", "/v1/playbooks/" + pb + "/outcomes",
                           json{{"task_description", "t" + std::to_string(t) + "-" + std::to_string(i)},
                                {"outcome", i % 3 ? "success" : "failure"},
                                {"bullet_ids", {"sai-00001"}}}
                               .dump(),
                           u.auth());
          std::lock_guard g{mutex};
          if (r.status == 201) {
            acknowledged.push_back(r.doc()["outcome_id"]);
          } else if (r.status == 503) {
            ++unavailable;
            without_retry_after += r.header("retry-after").empty();
          } else {
            ++other[r.status];
          }
        } catch (const std::exception&) {
          ++dropped;
          c.reset();
        }
      }
    });
  auto acked = [&] {
    std::lock_guard g{mutex};
    return acknowledged.size();
  };
  auto versions = [](const std::string& db) {
    return count(db, "SELECT count(*) FROM playbook_versions WHERE created_by_job_id IS NOT NULL");
  };
  auto primary = pg.primary->connection_string();
  auto standby = pg.standby->connection_string();
  ASSERT_TRUE(eventually([&] { return acked() > 300 && versions(primary) >= 4; },
                         std::chrono::seconds{60}));
  auto leads = [&] {
    return gw->count_lines("this node runs the scheduler") +
           w->count_lines("this node runs the scheduler");
  };
  auto leads_before = leads();
  pg.crash_primary();
  ASSERT_TRUE(eventually([&] { return unavailable >= 20; }));
  auto versions_before = versions(standby);
  pg.promote_standby();
  auto acked_at_promotion = acked();
  // Writes resume by themselves, evolutions too.
  ASSERT_TRUE(eventually([&] {
    return acked() > acked_at_promotion + 300 && versions(standby) >= versions_before + 4;
  }, std::chrono::seconds{60}))
      << acked() - acked_at_promotion << " outcomes, " << versions(standby) - versions_before
      << " versions after the promotion";
  stop = true;
  for (auto& t : clients)
    t.join();

  // The scheduler has a leader again: its advisory lock is held on the new
  // primary, taken after the crash.
  EXPECT_TRUE(eventually([&] {
    return count(standby, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                          " AND classid = 29810 AND objid = 1935894628 AND granted") == 1;
  }));
  EXPECT_GT(leads(), leads_before);
  // LISTEN is back: with polling once in two minutes, a job enqueued with
  // its NOTIFY starts at once. (The first may be claimed by the runner's
  // catch-up after its listener reconnected; the second only by NOTIFY.)
  for (int i = 0; i < 2; ++i) {
    auto job = enqueue_noop(standby, u.id, {{"step_ms", 1}});
    EXPECT_TRUE(eventually([&] {
      return count(standby, "SELECT count(*) FROM jobs WHERE status = 'completed' AND id = '" +
                                job + "'") == 1;
    }, std::chrono::seconds{20}))
        << "job " << i << " did not run";
  }

  {
    std::lock_guard g{mutex};
    EXPECT_TRUE(other.empty()) << json(other).dump();
    EXPECT_EQ(without_retry_after, 0);
    std::set<std::string> stored;
    pqxx::connection conn{standby};
    pqxx::read_transaction tx{conn};
    for (const auto& r : tx.exec("SELECT id FROM outcomes"))
      stored.insert(r[0].c_str());
    std::size_t missing = 0;
    for (const auto& id : acknowledged)
      missing += stored.count(id) == 0;
    EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged outcomes";
    // Each evolution job wrote at most one version; each playbook's
    // versions are numbered without gaps.
    EXPECT_EQ(tx.exec("SELECT created_by_job_id FROM playbook_versions"
                      " WHERE created_by_job_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1")
                  .size(),
              0u);
    EXPECT_EQ(tx.exec("SELECT playbook_id FROM playbook_versions GROUP BY 1"
                      " HAVING max(version_number) <> count(*)")
                  .size(),
              0u);
    // The counters agree with the rows.
    EXPECT_EQ(tx.exec("SELECT p.id FROM playbooks p WHERE p.pending_outcomes <>"
                      " (SELECT count(*) FROM outcomes o WHERE o.playbook_id = p.id"
                      " AND o.processed_at IS NULL)")
                  .size(),
              0u);
  }
  std::cout << "failover: " << acked() << " outcomes acknowledged, " << unavailable
            << " answered 503, " << dropped << " connections dropped\n";
  EXPECT_EQ(w->stop(), 0);
  EXPECT_EQ(gw->stop(), 0);
}
