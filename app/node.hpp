// A troupe node in one process: the embedded Postgres (when no database.url),
// migrations, the actor system with every actor, and the HTTP gateway.
//
//   start():  database → migrate → actors → HTTP listener → listen.addr
//   drain():  draining (readyz 503) → stop accepting → in-flight requests
//             finish (≤ server.shutdown_grace) → actors exit → Postgres stops
//
// `troupe serve` runs one with every role; `troupe gateway` one without job
// runner, `troupe worker` one with only the job runner and its executors
// (docs/cluster.md). The integration tests run them in-process.
#pragma once

#include "config/settings.hpp"

#include <memory>
#include <string>

namespace troupe::app {

extern const char* const troupe_version;

enum class node_role { serve, gateway, worker };

// As the nodes table spells it.
const char* role_name(node_role r);

class node {
public:
  explicit node(config::settings s, node_role role = node_role::serve);
  ~node(); // drains if still running

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // Starts everything; returns the bound "host:port". Throws on failure.
  std::string start();

  // Graceful stop; idempotent.
  void drain();

  const std::string& address() const;
  // Where the cluster actor is published ("" when it is not).
  const std::string& cluster_address() const;
  const std::string& node_id() const;
  // libpq connection string of the database this node uses.
  const std::string& connection_string() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

// A connection string for one-shot commands: database.url, or the embedded
// server of data_dir (started for the duration when not running; the holder
// keeps it alive).
struct database_handle {
  std::string connection_string;
  std::shared_ptr<void> keep_alive;
};
database_handle open_database(const config::settings& s, bool fsync = true);

// The JWT signing secret: auth.jwt_secret, auth.jwt_secret_file, or one
// generated once and kept in the database (shared by every node).
std::string resolve_jwt_secret(const config::settings& s, const std::string& connection_string);

} // namespace troupe::app
