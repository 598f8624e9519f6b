// Schema migrations: numbered SQL files (runtime/migrations/NNNN_name.sql)
// compiled into the binary, applied in order in one transaction under an
// advisory lock, and recorded in schema_migrations.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/connection>

namespace troupe::runtime {

struct migration {
  int version;
  std::string name;
  std::string sql;
};

// All migrations known to this binary, ordered by version (generated).
const std::vector<migration>& all_migrations();

int latest_schema_version();

// The highest applied version, 0 for an empty database.
int current_schema_version(pqxx::connection& conn);

struct schema_too_new : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct migrate_result {
  int from = 0;
  int to = 0;
};

// Applies the pending migrations. Two nodes migrating at once serialise on
// the advisory lock; the second finds nothing to do. Throws schema_too_new
// when the database has a version this binary does not know.
migrate_result migrate(pqxx::connection& conn);

// Throws schema_too_new if the database is newer than this binary, and
// std::runtime_error if it is older (not yet migrated).
void check_schema(pqxx::connection& conn);

} // namespace troupe::runtime
