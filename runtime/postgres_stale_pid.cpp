// A server already running for the cluster, and the stale postmaster.pid
// and socket lock files a dead one leaves behind.
#include "runtime/postgres_internal.hpp"

#include <cerrno>
#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include <signal.h>
#include <unistd.h>

namespace troupe::runtime::postgres_internal {
namespace {

namespace fs = std::filesystem;
using steady_clock = std::chrono::steady_clock;

std::optional<pid_t> read_postmaster_pid(const std::string& cluster) {
  std::ifstream in(cluster + "/postmaster.pid");
  long pid = 0;
  if (!in || !(in >> pid) || pid <= 0 || pid > INT_MAX) return std::nullopt;
  return static_cast<pid_t>(pid);
}

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

enum class pid_holder {
  nobody,        // no such process
  other_process, // alive, but not this cluster's postmaster (pid reused)
  maybe_server,  // possibly this cluster's postmaster
};

// Who holds pid now. A pid from an old postmaster.pid may have been reused by
// an unrelated process (after a reboot, or in a fresh container). When /proc
// cannot tell, assume a server: starting a second postmaster on the same
// cluster would be far worse than an error.
pid_holder classify_pid(pid_t pid, const std::string& cluster) {
  if (!process_alive(pid)) return pid_holder::nobody;
  if (pid == ::getpid()) return pid_holder::other_process;
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream cmdline(proc + "/cmdline", std::ios::binary);
  if (!cmdline) return pid_holder::maybe_server;
  // Zombies and kernel threads have an empty command line; the postmaster's
  // is "/path/to/postgres -D ...", a server child's "postgres: ...".
  std::string argv0;
  std::getline(cmdline, argv0, '\0');
  std::string program = argv0.substr(0, argv0.find(' '));
  if (!program.empty() && program.back() == ':') program.pop_back();
  program = fs::path(program).filename().string();
  if (program != "postgres" && program != "postmaster") return pid_holder::other_process;
  // The postmaster's working directory is its data directory.
  std::error_code ec;
  const fs::path cwd = fs::read_symlink(proc + "/cwd", ec);
  if (ec) return pid_holder::maybe_server; // not permitted to look
  const bool same = fs::equivalent(cwd, cluster, ec);
  return same || ec ? pid_holder::maybe_server : pid_holder::other_process;
}

void remove_stale_lock_files(const std::string& cluster) {
  for (const std::string& path : {cluster + "/postmaster.pid", socket_path(cluster) + ".lock"}) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      fail("Could not remove the stale lock file " + path + ": " + describe_errno(errno) + ".");
  }
}

} // namespace

// True when a live server for this cluster accepts connections; otherwise
// clears the way for a new one and returns false.
//
// A postmaster.pid naming a dead process is left alone: PostgreSQL removes it
// itself, after checking through the shared memory key recorded in it that
// no orphaned backends of a killed postmaster still use the cluster. Files
// it would refuse to start over (unreadable, or naming a live process that
// is not this cluster's server) are removed here.
bool adopt_running_server(const std::string& cluster, const std::string& log,
                          std::chrono::seconds timeout) {
  if (!path_exists(cluster + "/postmaster.pid")) return false;
  const auto pid = read_postmaster_pid(cluster);
  const pid_holder holder = pid ? classify_pid(*pid, cluster) : pid_holder::other_process;
  if (holder != pid_holder::maybe_server) {
    if (holder == pid_holder::other_process) remove_stale_lock_files(cluster);
    return false;
  }
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    if (accepts_connections(cluster)) return true;
    if (!process_alive(*pid)) return false; // it was shutting down
    if (steady_clock::now() >= deadline)
      fail("A PostgreSQL server (pid " + std::to_string(*pid) + ") is running for " + cluster +
           " but did not accept connections within " + std::to_string(timeout.count()) +
           " seconds; stop it, or see " + log + ".");
    std::this_thread::sleep_for(kPollInterval);
  }
}

} // namespace troupe::runtime::postgres_internal
