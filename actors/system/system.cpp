#include "actors/system/system.hpp"

#include "gateway/router.hpp"
#include "messages/errors.hpp"
#include "runtime/migrations.hpp"

#include <pqxx/pqxx>

namespace troupe::system_endpoints {
namespace {

using json = nlohmann::json;

// Runs in a store worker: reachability, schema version and queue figures.
api_response probe_database(pqxx::connection& conn, bool with_jobs) {
  auto start = std::chrono::steady_clock::now();
  pqxx::read_transaction tx{conn};
  auto version = tx.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
  auto latency = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  json out = {{"latency_ms", std::round(latency.count() * 1000) / 1000},
              {"schema_version", version},
              {"migrated", version == runtime::latest_schema_version()}};
  if (with_jobs) {
    auto row = tx.exec(
        "SELECT count(*) FILTER (WHERE status = 'queued'),"
        " count(*) FILTER (WHERE status = 'running'),"
        " count(*) FILTER (WHERE status = 'failed' AND completed_at > now() - interval '24 hours'),"
        " coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'queued')), 0)"
        " FROM jobs WHERE status IN ('queued', 'running', 'failed')")[0];
    out["jobs"] = {{"queued", row[0].as<long long>()},
                   {"running", row[1].as<long long>()},
                   {"failed_24h", row[2].as<long long>()},
                   {"oldest_queued_age_s", std::round(row[3].as<double>() * 1000) / 1000}};
    json nodes = json::array();
    for (const auto& n : tx.exec("SELECT json_build_object('id', id, 'role', role, 'address',"
                                 " address, 'version', version, 'started_at', rfc3339(started_at),"
                                 " 'heartbeat_at', rfc3339(heartbeat_at), 'draining', draining)"
                                 "::text FROM nodes ORDER BY started_at"))
      nodes.push_back(json::parse(n[0].c_str()));
    out["nodes"] = nodes;
  }
  return json_response(200, out);
}

struct system_state {
  static inline const char* name = "troupe.system";
};

api_response readiness(const api_response& probe, const node_info& info, const std::string& id) {
  if (info.draining->load())
    return error_response(503, "unavailable", "the node is draining", id);
  if (probe.status != 200)
    return error_response(503, "unavailable", "the database is unreachable", id);
  if (!json::parse(probe.body).value("migrated", false))
    return error_response(503, "unavailable", "the database schema is not migrated", id);
  return json_response(200, {{"status", "ready"}});
}

api_response status(const api_response& probe, const node_info& info) {
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - info.started);
  json out = {{"version", info.version},
              {"node_id", info.node_id},
              {"uptime_s", uptime.count()},
              {"draining", info.draining->load()}};
  if (probe.status == 200) {
    auto p = json::parse(probe.body);
    out["database"] = {{"ok", true}, {"latency_ms", p["latency_ms"]},
                       {"schema_version", p["schema_version"]}};
    out["jobs"] = p["jobs"];
    out["nodes"] = p["nodes"];
  } else {
    out["database"] = {{"ok", false}, {"latency_ms", nullptr}};
    out["jobs"] = nullptr;
    out["nodes"] = json::array();
  }
  return json_response(200, out);
}

api_actor::behavior_type system_actor(api_actor::stateful_pointer<system_state> self,
                                      store_actor store, node_info info) {
  return {
      [=](api_request& req) -> caf::result<api_response> {
        if (req.route == "/healthz")
          return json_response(200, {{"status", "ok"}});
        if (req.route == "/openapi.json")
          return json_response(200, json::parse(gateway::openapi_json(info.version)));
        bool is_status = req.route == "/v1/status";
        auto promise = self->make_response_promise<api_response>();
        auto id = req.request_id;
        self->request(store, caf::infinite,
                      db_task{[is_status](pqxx::connection& c) {
                                return probe_database(c, is_status);
                              },
                              id})
            .then(
                [=](api_response& probe) mutable {
                  promise.deliver(is_status ? status(probe, info) : readiness(probe, info, id));
                },
                [=](caf::error&) mutable {
                  promise.deliver(error_response(503, "unavailable", "store unavailable", id));
                });
        return promise;
      },
  };
}

} // namespace

api_actor spawn_system(caf::actor_system& sys, store_actor store, node_info info) {
  return sys.spawn(system_actor, std::move(store), std::move(info));
}

} // namespace troupe::system_endpoints
