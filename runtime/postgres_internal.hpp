// Internals shared by the files of the embedded PostgreSQL server
// (embedded_postgres.cpp and runtime/postgres_*.cpp); not for use elsewhere.
#pragma once

#include "runtime/embedded_postgres.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <sys/types.h>
#include <unistd.h>

namespace troupe::runtime::postgres_internal {

// The port in the socket's name (the server listens on no TCP port).
constexpr const char* kPort = "5432";
// The system user PostgreSQL runs as when troupe runs as root.
constexpr const char* kServerUser = "postgres";
// What to tell an operator when the server or its system user is missing.
constexpr const char* kInstallHint =
    "install the Debian package postgresql (apt-get install postgresql)";
// How often to check a starting server.
constexpr auto kPollInterval = std::chrono::milliseconds(50);

// Throws embedded_postgres_error(message).
[[noreturn]] inline void fail(const std::string& message) {
  throw embedded_postgres_error(message);
}

// std::strerror is not thread-safe; the category message is.
inline std::string describe_errno(int err) { return std::generic_category().message(err); }

// s without leading and trailing whitespace.
inline std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// Owns a file descriptor and closes it.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_ = -1;
};

// ---------------------------------------------------------------------------
// Child processes and the postgres system account (postgres_child.cpp)

// The postgres system account (only used when running as root).
struct server_account {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

// PostgreSQL refuses to run as root, so a root troupe hands the cluster to
// the postgres system user that the Debian package creates. Nothing when not
// root; throws when root and the user does not exist.
std::optional<server_account> server_account_if_root();

// A program to run: fork + exec without a shell.
struct child_spec {
  std::vector<std::string> argv; // argv[0] is the executable's path
  int stdout_fd = -1;            // -1: /dev/null
  int stderr_fd = -1;            // -1: /dev/null
  std::string cwd = "/";
  const server_account* account = nullptr; // switch to this user
  bool own_session = false;                // keep terminal signals away
  bool die_with_parent = false;            // SIGINT (fast shutdown) on our death
};

// Starts the child; throws when it could not reach exec.
pid_t spawn(const child_spec& spec);

// Runs argv to completion and returns its standard output, or nothing if it
// could not be run or did not exit with status 0.
std::optional<std::string> capture_output(std::vector<std::string> argv);

// Reaps pid and returns its wait status, or -1 if it could not be waited for.
int wait_for_exit(pid_t pid);

// A wait status as text ("exited with status 1").
std::string describe_status(int status);

// ---------------------------------------------------------------------------
// The cluster directory (postgres_cluster_dir.cpp)

// <data_dir>/postgres, the cluster.
std::string cluster_path(const std::string& data_dir);
// <data_dir>/postgres.log, the server's log.
std::string log_path(const std::string& data_dir);
// The server's Unix socket in the cluster directory.
std::string socket_path(const std::string& cluster);

// Whether anything (even a dangling symlink) exists at path.
bool path_exists(const std::string& path);

// Creates data_dir (mode 0755) and returns its resolved absolute path.
std::string prepare_data_dir(const std::string& data_dir);

// Throws when the socket path would be too long for a Unix socket.
void check_socket_path_length(const std::string& cluster);

// Throws unless the server user can reach data_dir.
void check_reachable(const server_account& account, const std::string& data_dir);

// Serialises start() across processes sharing a data directory.
unique_fd lock_data_dir(const std::string& data_dir);

// Creates the cluster directory (mode 0700), owned by account if given.
void create_cluster_dir(const std::string& cluster, const std::optional<server_account>& account);

// chown -R of the cluster to account, without following symlinks.
void give_cluster_to(const std::string& cluster, const server_account& account);

// A new random password for the superuser.
std::string random_password();

// Writes content to a file of mode 0600, owned by owner if given.
void write_private_file(const std::string& path, const std::string& content,
                        const server_account* owner);

// Keeps the superuser's password in the data directory.
void store_password(const std::string& data_dir, const std::string& password);

// The stored password, if there is one.
std::optional<std::string> load_password(const std::string& data_dir);

// The stored password; throws when it is missing.
std::string require_password(const std::string& data_dir);

// Opens the server's log for appending.
unique_fd open_log(const std::string& path);

// The current size of the file open as fd.
off_t log_size(int fd);

// The last lines written to the log since offset, for error messages.
std::string log_tail(const std::string& path, off_t offset);

// ---------------------------------------------------------------------------
// A server already running, and stale lock files (postgres_stale_pid.cpp)

// True when a live server for this cluster accepts connections; otherwise
// clears the way for a new one and returns false.
bool adopt_running_server(const std::string& cluster, const std::string& log,
                          std::chrono::seconds timeout);

// ---------------------------------------------------------------------------
// Connections (embedded_postgres.cpp)

// Whether a server for the cluster accepts connections now.
bool accepts_connections(const std::string& cluster);

} // namespace troupe::runtime::postgres_internal
