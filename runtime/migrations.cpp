#include "runtime/migrations.hpp"

#include <pqxx/pqxx>

namespace troupe::runtime {
namespace {

// Arbitrary, fixed: every troupe node takes the same lock to migrate.
constexpr long long migration_lock_key = 0x7472'6f75'7065; // "troupe"

constexpr const char* create_table_sql =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

int applied_version(pqxx::transaction_base& tx) {
  auto exists = tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL")[0][0].as<bool>();
  if (!exists)
    return 0;
  return tx.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
}

void refuse_newer(int db_version) {
  if (db_version > latest_schema_version())
    throw schema_too_new("the database schema is at version " + std::to_string(db_version) +
                         ", newer than this troupe knows (" +
                         std::to_string(latest_schema_version()) +
                         "); upgrade troupe before serving this database");
}

} // namespace

int latest_schema_version() {
  const auto& all = all_migrations();
  return all.empty() ? 0 : all.back().version;
}

int current_schema_version(pqxx::connection& conn) {
  pqxx::read_transaction tx{conn};
  return applied_version(tx);
}

migrate_result migrate(pqxx::connection& conn) {
  pqxx::work tx{conn};
  tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(migration_lock_key) + ")");
  tx.exec(create_table_sql);
  migrate_result result;
  result.from = applied_version(tx);
  refuse_newer(result.from);
  result.to = result.from;
  for (const auto& m : all_migrations()) {
    if (m.version <= result.from)
      continue;
    tx.exec(m.sql);
    tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                   m.name);
    result.to = m.version;
  }
  tx.commit();
  return result;
}

void check_schema(pqxx::connection& conn) {
  int v = current_schema_version(conn);
  refuse_newer(v);
  if (v < latest_schema_version())
    throw std::runtime_error("the database schema is at version " + std::to_string(v) +
                             ", older than this troupe needs (" +
                             std::to_string(latest_schema_version()) + "); run `troupe migrate`");
}

} // namespace troupe::runtime
