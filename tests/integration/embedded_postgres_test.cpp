#include "runtime/embedded_postgres.hpp"
#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

namespace rt = troupe::runtime;
namespace fs = std::filesystem;

namespace {

// A fresh directory under /tmp, removed with everything in it at the end.
// The name has a space so that quoting of paths is exercised throughout.
class temp_dir {
public:
  explicit temp_dir(mode_t mode = 0755) {
    std::string pattern = "/tmp/troupe epg-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = pattern;
    // mkdtemp creates 0700; as root the postgres user must get through it.
    ::chmod(path_.c_str(), mode);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const { return path_; }

private:
  std::string path_;
};

rt::embedded_postgres_options options_for(const std::string& data_dir) {
  rt::embedded_postgres_options o;
  o.data_dir = data_dir;
  o.fsync = false;
  o.start_timeout = std::chrono::seconds(60);
  return o;
}

std::string query_value(const std::string& conninfo, const std::string& sql) {
  pqxx::connection c{conninfo};
  pqxx::work w{c};
  const auto value = w.exec1(sql)[0].as<std::string>();
  w.commit();
  return value;
}

void execute(const std::string& conninfo, const std::string& sql) {
  pqxx::connection c{conninfo};
  pqxx::work w{c};
  w.exec(sql);
  w.commit();
}

bool can_connect(const std::string& conninfo) {
  try {
    pqxx::connection c{conninfo};
    pqxx::work w{c};
    w.exec("select 1");
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

pid_t unused_pid() {
  for (pid_t pid = 999999;; ++pid)
    if (::kill(pid, 0) != 0 && errno == ESRCH) return pid;
}

// The format PostgreSQL 15 writes, so start() sees a realistic leftover.
void write_postmaster_pid(const std::string& cluster, pid_t pid) {
  std::ofstream out(cluster + "/postmaster.pid", std::ios::trunc);
  out << pid << "\n"
      << cluster << "\n"
      << "1700000000\n"
      << "5432\n"
      << cluster << "\n"
      << "\n"
      << "  5432001    32768\n"
      << "ready   \n";
  ASSERT_TRUE(out.good());
}

pid_t postmaster_pid(const std::string& cluster) {
  std::ifstream in(cluster + "/postmaster.pid");
  pid_t pid = -1;
  in >> pid;
  return pid;
}

// True once pid has exited and waits to be reaped by its parent.
bool is_zombie(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < line.size() &&
         line[close_paren + 2] == 'Z';
}

TEST(EmbeddedPostgres, FindsServerBinaries) {
  const std::string bindir = rt::find_postgres_bindir();
  ASSERT_FALSE(bindir.empty());
  EXPECT_EQ(::access((bindir + "/postgres").c_str(), X_OK), 0) << bindir;
  EXPECT_EQ(::access((bindir + "/initdb").c_str(), X_OK), 0) << bindir;
}

TEST(EmbeddedPostgres, LifecycleReuseRestartAndStalePidFile) {
  temp_dir tmp;
  const std::string data_dir = tmp.path() + "/data";
  rt::embedded_postgres pg{options_for(data_dir)};

  pg.start();
  EXPECT_TRUE(pg.owns_server());
  pg.start(); // idempotent
  EXPECT_TRUE(pg.owns_server());
  const std::string cs = pg.connection_string();
  {
    pqxx::connection c{cs};
    pqxx::work w{c};
    w.exec("select 1");
    EXPECT_EQ(w.exec1("show fsync")[0].as<std::string>(), "off");
    EXPECT_EQ(w.exec1("select current_database()")[0].as<std::string>(), "troupe");
  }
  execute(cs, "create table kept (v int); insert into kept values (42)");

  {
    rt::embedded_postgres second{options_for(data_dir)};
    second.start();
    EXPECT_FALSE(second.owns_server());
    EXPECT_EQ(query_value(second.connection_string(), "select v from kept"), "42");
    second.stop(); // must leave the other object's server alone
  }
  EXPECT_TRUE(can_connect(cs));

  pg.stop();
  EXPECT_FALSE(pg.owns_server());
  EXPECT_FALSE(can_connect(cs));
  pg.stop(); // idempotent

  pg.start();
  EXPECT_TRUE(pg.owns_server());
  EXPECT_EQ(query_value(pg.connection_string(), "select v from kept"), "42");
  pg.stop();

  // A postmaster.pid naming a process that no longer exists is stale.
  write_postmaster_pid(pg.cluster_dir(), unused_pid());
  pg.start();
  EXPECT_TRUE(pg.owns_server());
  EXPECT_EQ(query_value(pg.connection_string(), "select v from kept"), "42");
  pg.stop();

  // So is one naming a live process that is not a postgres server.
  write_postmaster_pid(pg.cluster_dir(), ::getpid());
  pg.start();
  EXPECT_TRUE(pg.owns_server());
  EXPECT_EQ(query_value(pg.connection_string(), "select v from kept"), "42");
}

TEST(EmbeddedPostgres, RecoversFromKilledPostmaster) {
  temp_dir tmp;
  rt::embedded_postgres pg{options_for(tmp.path() + "/data")};
  pg.start();
  execute(pg.connection_string(), "create table kept (v int); insert into kept values (7)");
  // With synchronous_commit off, a commit may still sit in WAL buffers that
  // a killed server loses; a checkpoint hands everything to the kernel.
  execute(pg.connection_string(), "checkpoint");

  // start() notices that its server died, reaps it and starts a new one.
  pid_t pid = postmaster_pid(pg.cluster_dir());
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(troupe::test::eventually([&] { return is_zombie(pid); }));
  pg.start();
  EXPECT_TRUE(pg.owns_server());
  EXPECT_NE(postmaster_pid(pg.cluster_dir()), pid);
  EXPECT_EQ(query_value(pg.connection_string(), "select v from kept"), "7");

  // stop() reaps a killed server, whose postmaster.pid is then stale.
  pid = postmaster_pid(pg.cluster_dir());
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  pg.stop();
  EXPECT_TRUE(::kill(pid, 0) != 0 && errno == ESRCH);
  pg.start();
  EXPECT_EQ(query_value(pg.connection_string(), "select v from kept"), "7");
}

TEST(EmbeddedPostgres, DestructorStopsServerAndDatabaseNamesAreQuoted) {
  temp_dir tmp;
  auto opts = options_for(tmp.path() + "/data");
  opts.database = "it's a \\ db";
  std::string cs;
  {
    rt::embedded_postgres pg{opts};
    pg.start();
    cs = pg.connection_string();
    EXPECT_EQ(query_value(cs, "select current_database()"), opts.database);
  }
  EXPECT_FALSE(can_connect(cs));
}

TEST(EmbeddedPostgres, RejectsSocketPathsThatAreTooLong) {
  temp_dir tmp;
  rt::embedded_postgres pg{options_for(tmp.path() + "/" + std::string(100, 'd'))};
  try {
    pg.start();
    FAIL() << "start() accepted a socket path over 107 bytes";
  } catch (const rt::embedded_postgres_error& e) {
    EXPECT_NE(std::string(e.what()).find("--data-dir"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(pg.owns_server());
}

TEST(EmbeddedPostgres, AsRootRejectsDataDirUnreachableByPostgresUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root hands the cluster to the postgres user";
  temp_dir tmp{0700};
  rt::embedded_postgres pg{options_for(tmp.path() + "/data")};
  try {
    pg.start();
    FAIL() << "start() accepted a data directory the postgres user cannot reach";
  } catch (const rt::embedded_postgres_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(tmp.path()), std::string::npos) << message;
    EXPECT_NE(message.find("/var/lib/troupe"), std::string::npos) << message;
  }
}

} // namespace
