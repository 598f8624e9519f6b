// The troupe executable as an operator meets it: exit codes, config checks,
// admin commands against an embedded database, and `serve` as a real process
// that answers HTTP and drains on SIGTERM.
#include "auth/credentials.hpp"
#include "tests/integration/harness.hpp"

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace troupe::test;

namespace {

struct result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the troupe binary with `args`, feeding `input` on stdin.
result troupe_cmd(const std::vector<std::string>& args, const std::string& input = "",
                  const std::map<std::string, std::string>& env = {}) {
  temp_dir io;
  auto in_path = io.path() + "/in", out_path = io.path() + "/out", err_path = io.path() + "/err";
  std::ofstream{in_path} << input;
  pid_t pid = fork();
  if (pid == 0) {
    int in = open(in_path.c_str(), O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    for (auto& [k, v] : env)
      setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv{const_cast<char*>(TROUPE_BINARY)};
    for (auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(TROUPE_BINARY, argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(out_path),
          slurp(err_path)};
}

std::string with_database(const std::string& conninfo, const std::string& db) {
  auto pos = conninfo.find("dbname=");
  return conninfo.substr(0, pos) + "dbname=" + db;
}

TEST(Cli, VersionHelpAndUsageErrors) {
  auto v = troupe_cmd({"version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("troupe ", 0), 0u);
  EXPECT_EQ(troupe_cmd({"--help"}).exit_code, 0);
  EXPECT_EQ(troupe_cmd({"admin", "--help"}).exit_code, 0);
  EXPECT_EQ(troupe_cmd({}).exit_code, 2);
  auto bogus = troupe_cmd({"bogus"});
  EXPECT_EQ(bogus.exit_code, 2);
  EXPECT_NE(bogus.err.find("unknown command"), std::string::npos);
  auto flag = troupe_cmd({"serve", "--no-such-flag"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.err.find("--no-such-flag"), std::string::npos);
  EXPECT_EQ(troupe_cmd({"admin", "create-user"}).exit_code, 2); // --email missing
}

TEST(Cli, ConfigExampleIsTheCommittedFile) {
  auto r = troupe_cmd({"config", "example"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, slurp(std::string{TROUPE_SOURCE_DIR} + "/config/troupe.example.toml"));
}

TEST(Cli, ConfigCheckNamesTheKeyAndLine) {
  temp_dir dir;
  auto file = dir.path() + "/troupe.toml";
  std::ofstream{file} << "[server]\nio_threads = \"many\"\n";
  auto r = troupe_cmd({"config", "check", "--config", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("server.io_threads"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(":2"), std::string::npos) << r.err;

  auto env = troupe_cmd({"config", "check"}, "", {{"TROUPE_SERVER_LISTEN", "nowhere"}});
  EXPECT_EQ(env.exit_code, 2);
  EXPECT_NE(env.err.find("TROUPE_SERVER_LISTEN"), std::string::npos) << env.err;

  auto ok = troupe_cmd({"config", "check", "--database-url",
                        "postgres://troupe:hunter2secret@db.example:5432/troupe"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out.find("hunter2secret"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("db.example"), std::string::npos) << ok.out;
}

TEST(Cli, MigrateIsIdempotentAndRefusesANewerSchema) {
  auto& db = shared_database();
  {
    pqxx::connection conn{db.conninfo()};
    pqxx::nontransaction tx{conn};
    tx.exec("DROP DATABASE IF EXISTS cli_newer");
    tx.exec("CREATE DATABASE cli_newer");
  }
  auto url = with_database(db.conninfo(), "cli_newer");
  auto first = troupe_cmd({"migrate", "--database-url", url});
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("migrated from version 0"), std::string::npos) << first.err;
  auto again = troupe_cmd({"migrate", "--database-url", url});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.err.find("up to date"), std::string::npos) << again.err;
  {
    pqxx::connection conn{url};
    pqxx::work tx{conn};
    tx.exec("INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')");
    tx.commit();
  }
  auto newer = troupe_cmd({"migrate", "--database-url", url});
  EXPECT_EQ(newer.exit_code, 1);
  EXPECT_NE(newer.err.find("newer"), std::string::npos) << newer.err;
  auto admin = troupe_cmd({"admin", "create-user", "--email", "x@example.com", "--database-url", url});
  EXPECT_EQ(admin.exit_code, 1);
}

TEST(Cli, AdminCommandsOnAnEmbeddedDatabase) {
  temp_dir data;
  auto user = troupe_cmd({"admin", "create-user", "--email", "ops@example.com",
                          "--password-stdin", "--data-dir", data.path()},
                         "a good password\n");
  ASSERT_EQ(user.exit_code, 0) << user.err;
  auto key = troupe_cmd({"admin", "create-api-key", "--email", "ops@example.com", "--name",
                         "deploy", "--scopes", "playbooks:read,jobs:*", "--data-dir",
                         data.path()});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  // Only the key, on one line, so scripts can capture it.
  ASSERT_FALSE(key.out.empty());
  EXPECT_EQ(key.out.back(), '\n');
  auto k = key.out.substr(0, key.out.size() - 1);
  auto prefix = troupe::auth::api_key_prefix(k);
  ASSERT_TRUE(prefix.has_value()) << key.out;

  auto dup = troupe_cmd({"admin", "create-user", "--email", "OPS@example.com", "--password-stdin",
                         "--data-dir", data.path()},
                        "another password\n");
  EXPECT_EQ(dup.exit_code, 1);
  EXPECT_NE(dup.err.find("already exists"), std::string::npos) << dup.err;
  auto bad_scope = troupe_cmd({"admin", "create-api-key", "--email", "ops@example.com", "--name",
                               "x", "--scopes", "root", "--data-dir", data.path()});
  EXPECT_EQ(bad_scope.exit_code, 2);
  auto nobody = troupe_cmd({"admin", "create-api-key", "--email", "nobody@example.com", "--name",
                            "x", "--data-dir", data.path()});
  EXPECT_EQ(nobody.exit_code, 1);

  auto revoke = troupe_cmd({"admin", "revoke-api-key", "--prefix", *prefix, "--data-dir",
                            data.path()});
  EXPECT_EQ(revoke.exit_code, 0) << revoke.err;
  auto twice = troupe_cmd({"admin", "revoke-api-key", "--prefix", *prefix, "--data-dir",
                           data.path()});
  EXPECT_EQ(twice.exit_code, 1);
  // Every command stopped the Postgres it started.
  EXPECT_FALSE(std::filesystem::exists(data.path() + "/postgres/postmaster.pid"));
}

// `troupe serve` as a separate process, the way ./scripts/run starts it.
TEST(Cli, ServeBootstrapsAnAdminAnswersAndDrainsOnSigterm) {
  temp_dir data;
  auto out_path = data.path() + "/serve.out";
  pid_t pid = fork();
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open((data.path() + "/serve.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    execl(TROUPE_BINARY, TROUPE_BINARY, "serve", "--data-dir", data.path().c_str(), "--listen",
          "127.0.0.1:0", "--bootstrap-admin", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string key;
  ASSERT_TRUE(eventually([&] {
    auto out = slurp(out_path);
    auto pos = out.find("  tr_");
    if (pos == std::string::npos || out.find("Create your first playbook") == std::string::npos)
      return false;
    key = out.substr(pos + 2, out.find('\n', pos) - pos - 2);
    return true;
  }, std::chrono::seconds{60}))
      << slurp(data.path() + "/serve.err");
  auto address = slurp(data.path() + "/listen.addr");
  address.pop_back();
  auto out = slurp(out_path);
  EXPECT_NE(out.find("http://" + address + "/v1/playbooks"), std::string::npos) << out;
  EXPECT_NE(out.find("Open the dashboard at http://" + address + "/"), std::string::npos) << out;

  http_client c{address};
  auto created = c.send("POST", "/v1/playbooks",
                        json{{"name", "first playbook"},
                             {"content", "## STRATEGIES & INSIGHTS\n- Check pagination."}}
                            .dump(),
                        bearer(key));
  EXPECT_EQ(created.status, 201) << created.body;
  // The first start's demo: a playbook of the admin's, evolved once by the
  // outcomes the start sent, with a vote that the safety critic vetoed.
  json demo_job;
  ASSERT_TRUE(eventually([&] {
    auto jobs = c.send("GET", "/v1/jobs?kind=evolution&status=completed", "", bearer(key));
    if (jobs.status != 200 || jobs.doc()["items"].size() != 1)
      return false;
    demo_job = c.send("GET", "/v1/jobs/" + jobs.doc()["items"][0]["id"].get<std::string>(), "",
                      bearer(key)).doc();
    return true;
  }));
  EXPECT_EQ(demo_job["to_version"], 2) << demo_job.dump();
  bool vetoed = false;
  for (const auto& round : demo_job["rounds"])
    for (const auto& v : round["votes"])
      vetoed = vetoed || v["vetoed"].get<bool>();
  EXPECT_TRUE(vetoed) << demo_job.dump();

  // An admin command while the server runs reuses its Postgres.
  auto second = troupe_cmd({"admin", "create-api-key", "--email", "admin@localhost", "--name",
                            "second", "--data-dir", data.path()});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto k2 = second.out.substr(0, second.out.size() - 1);
  EXPECT_EQ(c.send("GET", "/v1/playbooks", "", bearer(k2)).status, 200);

  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_TRUE(eventually([&] { return waitpid(pid, &status, WNOHANG) == pid; },
                         std::chrono::seconds{60}));
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(std::filesystem::exists(data.path() + "/postgres/postmaster.pid"));
}

} // namespace

namespace {

// SIGHUP re-reads the configuration file and applies the log level: a node
// started at `warn` logs nothing per request, and after the file says
// `debug` and SIGHUP arrives, every request leaves a line.
TEST(Cli, SighupReloadsTheLogLevel) {
  temp_dir data;
  auto config = data.path() + "/troupe.toml";
  std::ofstream{config} << "[log]\nlevel = \"warn\"\n";
  auto err_path = data.path() + "/serve.err";
  pid_t pid = fork();
  if (pid == 0) {
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(err, 2);
    execl(TROUPE_BINARY, TROUPE_BINARY, "serve", "--config", config.c_str(), "--data-dir",
          data.path().c_str(), "--listen", "127.0.0.1:0", "--database-url",
          shared_database().conninfo().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(data.path() + "/listen.addr"); }))
      << slurp(err_path);
  auto address = slurp(data.path() + "/listen.addr");
  address.pop_back();
  http_client c{address};
  ASSERT_EQ(c.send("GET", "/healthz", "", {{"X-Request-Id", "before-reload"}}).status, 200);
  std::ofstream{config, std::ios::trunc} << "[log]\nlevel = \"debug\"\n";
  kill(pid, SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return slurp(err_path).find("configuration reloaded") != std::string::npos;
  })) << slurp(err_path);
  ASSERT_EQ(c.send("GET", "/healthz", "", {{"X-Request-Id", "after-reload"}}).status, 200);
  EXPECT_TRUE(eventually([&] { return slurp(err_path).find("after-reload") != std::string::npos; }))
      << slurp(err_path);
  EXPECT_EQ(slurp(err_path).find("before-reload"), std::string::npos);
  // A broken file on reload keeps the running configuration.
  std::ofstream{config, std::ios::trunc} << "[log]\nlevel = \"loud\"\n";
  kill(pid, SIGHUP);
  EXPECT_TRUE(eventually([&] {
    return slurp(err_path).find("configuration reload failed") != std::string::npos;
  })) << slurp(err_path);
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_TRUE(eventually([&] { return waitpid(pid, &status, WNOHANG) == pid; },
                         std::chrono::seconds{60}));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

} // namespace
