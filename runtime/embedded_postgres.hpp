// A private PostgreSQL server owned by this process.
//
// `troupe serve` with no database.url, the admin commands, and the
// integration-test fixtures all use this class.
//
//   locate binaries → initdb (first start) → clear stale postmaster.pid
//        → start postgres (Unix socket in the data directory, no TCP)
//        → wait until it accepts connections → ... → stop (fast shutdown)
//
// When the process runs as root, initdb and postgres run as the `postgres`
// system user, which is given ownership of the cluster directory.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/types.h>

namespace troupe::runtime {

// Thrown for every failure; what() is a complete message for an operator
// (e.g. names the Debian package to install when no server binaries exist).
struct embedded_postgres_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct embedded_postgres_options {
  std::string data_dir;          // cluster lives in <data_dir>/postgres
  bool fsync = true;             // off for throwaway test clusters
  std::string database = "troupe";
  std::chrono::seconds start_timeout{60};
};

class embedded_postgres {
public:
  explicit embedded_postgres(embedded_postgres_options opts);
  ~embedded_postgres(); // stops the server if this object started it

  embedded_postgres(const embedded_postgres&) = delete;
  embedded_postgres& operator=(const embedded_postgres&) = delete;

  // Ensures a server is running for the data directory: reuses one already
  // running there (e.g. a `troupe serve` while an admin command runs), else
  // initialises the cluster if needed, removes a stale postmaster.pid, starts
  // the server and waits until it accepts connections and the database
  // exists. Idempotent.
  void start();

  // Fast shutdown of a server this object started; waits for it to exit.
  // Does nothing otherwise. Idempotent.
  void stop();

  // True when this object started the server (and so stop() will stop it).
  bool owns_server() const;

  // libpq connection string (key=value form) for the database.
  std::string connection_string() const;

  // The directory holding the cluster and its socket.
  std::string cluster_dir() const;

private:
  embedded_postgres_options opts_;
  std::string bindir_;
  std::string password_;
  pid_t child_ = -1;
};

// Locates the server binaries: `pg_config --bindir` when it holds `postgres`
// and `initdb`, then the newest /usr/lib/postgresql/*/bin. Empty if none.
std::string find_postgres_bindir();

} // namespace troupe::runtime
