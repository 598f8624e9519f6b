// The embedded_postgres class: initdb, starting, adopting and stopping the
// server, and its connection string. The helpers are in runtime/postgres_*.cpp.
#include "runtime/embedded_postgres.hpp"

#include "runtime/postgres_internal.hpp"

// Debian installs libpq's header under postgresql/ unless the build adds
// -I$(pg_config --includedir).
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif
#include <pqxx/pqxx>

#include <cerrno>
#include <chrono>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace troupe::runtime {

using namespace postgres_internal; // the helpers of runtime/postgres_*.cpp

namespace {

namespace fs = std::filesystem;
using steady_clock = std::chrono::steady_clock;

constexpr const char* kSuperuser = "troupe";
constexpr auto kFastShutdownTimeout = std::chrono::seconds(30);
constexpr auto kQuitTimeout = std::chrono::seconds(5);

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// ---------------------------------------------------------------------------
// Connections

// libpq key=value quoting: single quotes, with \ and ' escaped by backslash.
std::string conninfo_value(const std::string& value) {
  const bool plain = !value.empty() && value.find_first_of(" \t\n\r\f\v'\\") == std::string::npos;
  if (plain) return value;
  std::string out = "'";
  for (const char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string make_conninfo(const std::string& cluster, const std::string& password,
                          const std::string& database) {
  std::string s = "host=" + conninfo_value(cluster) + " port=" + kPort + " user=" + kSuperuser;
  if (!password.empty()) s += " password=" + conninfo_value(password);
  return s + " dbname=" + conninfo_value(database);
}

} // namespace

bool postgres_internal::accepts_connections(const std::string& cluster) {
  return ::PQping(make_conninfo(cluster, "", "postgres").c_str()) == PQPING_OK;
}

namespace {

bool database_exists(pqxx::connection& c, const std::string& database) {
  pqxx::nontransaction tx{c};
  return !tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", database).empty();
}

void ensure_database(const std::string& cluster, const std::string& password,
                     const std::string& database) {
  try {
    pqxx::connection c{make_conninfo(cluster, password, "postgres")};
    if (database_exists(c, database)) return;
    try {
      pqxx::nontransaction tx{c};
      tx.exec("CREATE DATABASE " + c.quote_name(database));
    } catch (const pqxx::sql_error&) {
      // Another process may have created it meanwhile (duplicate_database,
      // or a unique violation on pg_database); only its absence is an error.
      if (!database_exists(c, database)) throw;
    }
  } catch (const std::exception& e) {
    fail("Could not make sure that the database " + quoted(database) +
         " exists in the PostgreSQL server for " + cluster + ": " + trim(e.what()));
  }
}

// ---------------------------------------------------------------------------
// initdb and postgres

void run_initdb(const std::string& bindir, const std::string& data_dir,
                const std::optional<server_account>& account, const std::string& password,
                bool fsync, int log_fd) {
  const std::string cluster = cluster_path(data_dir);
  // initdb reads the password from a file; it runs as the server user, so
  // the file belongs to that user, and it is removed whatever happens.
  const std::string pwfile = data_dir + "/postgres.initdb-password";
  write_private_file(pwfile, password + "\n", account ? &*account : nullptr);
  struct remove_on_exit {
    const std::string& path;
    ~remove_on_exit() { ::unlink(path.c_str()); }
  } cleanup{pwfile};

  child_spec spec;
  spec.argv = {bindir + "/initdb", "-D", cluster, "-U", kSuperuser, "--encoding=UTF8",
               "--locale=C", "--auth=scram-sha-256", "--pwfile=" + pwfile};
  if (!fsync) spec.argv.push_back("--no-sync");
  spec.stdout_fd = log_fd;
  spec.stderr_fd = log_fd;
  spec.cwd = cluster;
  spec.account = account ? &*account : nullptr;
  const off_t offset = log_size(log_fd);
  const int status = wait_for_exit(spawn(spec));
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail("Could not initialise the PostgreSQL cluster in " + cluster + ": " + spec.argv[0] + " " +
         describe_status(status) + "; " + log_tail(log_path(data_dir), offset));
}

// unix_socket_directories is a comma-separated list; double quotes (with ""
// for a quote) keep a directory containing commas or spaces whole.
std::string socket_directory_setting(const std::string& dir) {
  std::string out = "\"";
  for (const char c : dir) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Settings go on the command line so that nothing in the cluster is edited.
std::vector<std::string> server_argv(const std::string& bindir, const std::string& cluster,
                                     bool fsync) {
  std::vector<std::string> argv = {
      bindir + "/postgres", "-D", cluster,
      "-c", "listen_addresses=", // Unix socket only
      "-c", "unix_socket_directories=" + socket_directory_setting(cluster),
      "-c", std::string("port=") + kPort,
      "-c", "max_connections=200",
      "-c", "shared_buffers=128MB"};
  if (!fsync) {
    for (const char* setting : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
      argv.push_back("-c");
      argv.push_back(setting);
    }
  }
  return argv;
}

// Polls until the server accepts connections; throws if it exits or the
// timeout passes. child is reset to -1 once reaped.
void wait_until_ready(pid_t& child, const std::string& cluster, const std::string& log,
                      off_t log_offset, std::chrono::seconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child || (done < 0 && errno == ECHILD)) {
      child = -1;
      fail("The PostgreSQL server for " + cluster + " " +
           (done == -1 ? std::string("exited") : describe_status(status)) +
           " during startup; " + log_tail(log, log_offset));
    }
    if (accepts_connections(cluster)) return;
    if (steady_clock::now() >= deadline)
      fail("The PostgreSQL server for " + cluster + " did not accept connections within " +
           std::to_string(timeout.count()) + " seconds; " + log_tail(log, log_offset));
    std::this_thread::sleep_for(kPollInterval);
  }
}

// Signals pid and waits up to timeout for it to be reaped.
// How often signal_and_wait looks whether the server has exited: a fast
// shutdown takes tens of milliseconds, so a finer step buys nothing.
constexpr auto kExitPollInterval = std::chrono::milliseconds(20);

bool signal_and_wait(pid_t pid, int sig, std::chrono::seconds timeout) {
  if (::kill(pid, sig) != 0 && errno == ESRCH) return true; // already reaped
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) return true;
    if (steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kExitPollInterval);
  }
}

} // namespace

// ---------------------------------------------------------------------------

embedded_postgres::embedded_postgres(embedded_postgres_options opts) : opts_(std::move(opts)) {
  if (opts_.data_dir.empty())
    fail("No data directory was given for the embedded PostgreSQL server.");
  if (opts_.database.empty())
    fail("No database name was given for the embedded PostgreSQL server.");
  // Absolute from the start, so cluster_dir() is meaningful before start().
  std::error_code ec;
  const fs::path absolute = fs::absolute(opts_.data_dir, ec).lexically_normal();
  if (!ec) opts_.data_dir = absolute.string();
  while (opts_.data_dir.size() > 1 && opts_.data_dir.back() == '/') opts_.data_dir.pop_back();
}

embedded_postgres::~embedded_postgres() {
  try {
    stop();
  } catch (...) {
    // A destructor must not throw; stop() only makes system calls anyway.
  }
}

void embedded_postgres::start() {
  // Reusing another process's server leaves child_ unset; repeating start()
  // then simply re-checks that server, which is cheap. A server of ours that
  // has died is reaped here and replaced.
  if (child_ > 0) {
    int status = 0;
    if (::waitpid(child_, &status, WNOHANG) == 0) return;
    child_ = -1;
  }
  if (bindir_.empty()) bindir_ = find_postgres_bindir();
  if (bindir_.empty())
    fail(std::string("No PostgreSQL server binaries (postgres and initdb) were found, neither "
                     "through pg_config --bindir nor in /usr/lib/postgresql/*/bin; ") +
         kInstallHint + ".");
  const std::optional<server_account> account = server_account_if_root();
  opts_.data_dir = prepare_data_dir(opts_.data_dir);
  const std::string cluster = cluster_dir();
  check_socket_path_length(cluster);
  const unique_fd lock = lock_data_dir(opts_.data_dir);

  if (adopt_running_server(cluster, log_path(opts_.data_dir), opts_.start_timeout)) {
    password_ = require_password(opts_.data_dir);
    ensure_database(cluster, password_, opts_.database);
    return;
  }

  if (account) check_reachable(*account, opts_.data_dir);
  const unique_fd log = open_log(log_path(opts_.data_dir));
  create_cluster_dir(cluster, account);
  if (!path_exists(cluster + "/PG_VERSION")) {
    // Stored before initdb: a cluster must never exist without its password.
    password_ = random_password();
    store_password(opts_.data_dir, password_);
    run_initdb(bindir_, opts_.data_dir, account, password_, opts_.fsync, log.get());
  } else {
    password_ = require_password(opts_.data_dir);
  }
  if (account) give_cluster_to(cluster, *account);

  child_spec spec;
  spec.argv = server_argv(bindir_, cluster, opts_.fsync);
  spec.stdout_fd = log.get();
  spec.stderr_fd = log.get();
  spec.cwd = cluster;
  spec.account = account ? &*account : nullptr;
  spec.own_session = true;
  spec.die_with_parent = true;
  const off_t log_offset = log_size(log.get());
  child_ = spawn(spec);
  try {
    wait_until_ready(child_, cluster, log_path(opts_.data_dir), log_offset, opts_.start_timeout);
    ensure_database(cluster, password_, opts_.database);
  } catch (...) {
    stop();
    throw;
  }
}

void embedded_postgres::stop() {
  if (child_ <= 0) return;
  const pid_t pid = std::exchange(child_, -1);
  if (signal_and_wait(pid, SIGINT, kFastShutdownTimeout)) return;   // fast shutdown
  if (signal_and_wait(pid, SIGQUIT, kQuitTimeout)) return;          // immediate shutdown
  ::kill(pid, SIGKILL);
  wait_for_exit(pid);
}

bool embedded_postgres::owns_server() const { return child_ > 0; }

std::string embedded_postgres::connection_string() const {
  // Before start() the password may still be on disk from an earlier run.
  const std::string password =
      !password_.empty() ? password_ : load_password(opts_.data_dir).value_or("");
  return make_conninfo(cluster_dir(), password, opts_.database);
}

std::string embedded_postgres::cluster_dir() const { return cluster_path(opts_.data_dir); }

} // namespace troupe::runtime
