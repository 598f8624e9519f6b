#include "actors/system/system.hpp"

#include "messages/errors.hpp"
#include "runtime/metrics.hpp"
#include "runtime/migrations.hpp"
#include "runtime/store.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <pqxx/pqxx>

namespace troupe::system_endpoints {
namespace {

using json = nlohmann::json;

// A scrape waits this long for the database figures, then answers without
// them: Prometheus' default scrape timeout is 10 s, and a scrape that fails
// when the database hangs would hide troupe_database_up 0.
constexpr std::chrono::seconds scrape_probe_deadline{2};

// What a probe reads: readiness needs reachability and the schema version;
// status and /metrics also read the queue and the node registry.
enum class probe_kind { readiness, status, metrics };

double rounded(double v) { return std::round(v * 1000) / 1000; }

// Runs in a store worker.
json probe_database(pqxx::connection& conn, probe_kind kind, int node_stale_s) {
  auto start = std::chrono::steady_clock::now();
  pqxx::read_transaction tx{conn};
  auto version = tx.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
  auto latency = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  json out = {{"latency_ms", rounded(latency.count())},
              {"schema_version", version},
              {"migrated", version == runtime::latest_schema_version()}};
  if (kind == probe_kind::readiness)
    return out;
  // The queue by kind. A job's queued age counts from when it became
  // runnable (run_after), so a retry waiting out its backoff is not "old".
  // The kinds every node runs are always listed, with zeros when idle.
  json by_kind = json::object();
  for (auto kind : {"evolution", "critique"})
    by_kind[kind] = {{"queued", 0}, {"running", 0}, {"failed_24h", 0},
                     {"oldest_queued_age_s", 0.0}, {"leases_active", 0}};
  json totals = {{"queued", 0}, {"running", 0}, {"failed_24h", 0}, {"oldest_queued_age_s", 0.0}};
  for (const auto& r : tx.exec(
           "SELECT kind, count(*) FILTER (WHERE status = 'queued'),"
           " count(*) FILTER (WHERE status = 'running'),"
           " count(*) FILTER (WHERE status = 'failed'"
           "   AND completed_at > now() - interval '24 hours'),"
           " coalesce(extract(epoch FROM now() - min(run_after)"
           "   FILTER (WHERE status = 'queued' AND run_after <= now())), 0),"
           " count(*) FILTER (WHERE status = 'running' AND lease_expires_at > now())"
           " FROM jobs WHERE status IN ('queued', 'running', 'failed') GROUP BY kind"
           " ORDER BY kind")) {
    json k = {{"queued", r[1].as<long long>()},
              {"running", r[2].as<long long>()},
              {"failed_24h", r[3].as<long long>()},
              {"oldest_queued_age_s", rounded(r[4].as<double>())},
              {"leases_active", r[5].as<long long>()}};
    for (auto field : {"queued", "running", "failed_24h"})
      totals[field] = totals[field].get<long long>() + k[field].get<long long>();
    totals["oldest_queued_age_s"] =
        std::max(totals["oldest_queued_age_s"].get<double>(), k["oldest_queued_age_s"].get<double>());
    by_kind[r[0].c_str()] = k;
  }
  totals["by_kind"] = by_kind;
  out["jobs"] = totals;
  json nodes = json::array();
  for (const auto& n : tx.exec_params(
           "SELECT json_build_object('id', id, 'role', role, 'address', address, 'version',"
           " version, 'started_at', rfc3339(started_at), 'heartbeat_at', rfc3339(heartbeat_at),"
           " 'draining', draining, 'cluster_address', cluster_address,"
           " 'running_jobs', (SELECT count(*) FROM jobs j WHERE j.status = 'running'"
           " AND j.lease_owner = nodes.id), 'jobs_started', jobs_started,"
           " 'up', left_at IS NULL AND heartbeat_at > now() - make_interval(secs => $1))::text"
           " FROM nodes ORDER BY started_at",
           node_stale_s))
    nodes.push_back(json::parse(n[0].c_str()));
  out["nodes"] = nodes;
  return out;
}

// What the probe read; nullopt when the database did not answer.
using probe_result = std::optional<json>;

// Hands the probe's figures to the metrics registry.
void record_figures(const probe_result& probe) {
  metrics::database_figures f;
  if (probe) {
    const auto& p = *probe;
    f.up = true;
    f.latency_s = p["latency_ms"].get<double>() / 1000;
    for (const auto& [kind, k] : p["jobs"]["by_kind"].items()) {
      f.queues[kind] = {k["queued"].get<std::int64_t>(), k["oldest_queued_age_s"].get<double>()};
      f.leases_active += k["leases_active"].get<std::int64_t>();
    }
    for (const auto& n : p["nodes"])
      ++(n["up"].get<bool>() ? f.nodes_up : f.nodes_stale);
  }
  metrics::set_database_figures(f);
}

api_response metrics_response() {
  api_response r;
  r.status = 200;
  r.body = metrics::exposition();
  r.headers["Content-Type"] = metrics::content_type;
  return r;
}

struct system_state {
  static inline const char* name = "troupe.system";
};

api_response readiness(const probe_result& probe, const node_info& info, const std::string& id) {
  if (info.draining->load())
    return error_response(503, "unavailable", "the node is draining", id);
  if (!probe)
    return error_response(503, "unavailable", "the database is unreachable", id);
  if (!probe->value("migrated", false))
    return error_response(503, "unavailable", "the database schema is not migrated", id);
  return json_response(200, {{"status", "ready"}});
}

api_response status(const probe_result& probe, const node_info& info) {
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - info.started);
  json out = {{"version", info.version},
              {"node_id", info.node_id},
              {"uptime_s", uptime.count()},
              {"draining", info.draining->load()}};
  if (probe) {
    const auto& p = *probe;
    out["database"] = {{"ok", true}, {"latency_ms", p["latency_ms"]},
                       {"schema_version", p["schema_version"]},
                       {"migrated", p["migrated"]}};
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
        if (req.op == endpoint::healthz)
          return json_response(200, {{"status", "ok"}});
        auto kind = req.op == endpoint::status    ? probe_kind::status
                    : req.op == endpoint::metrics ? probe_kind::metrics
                                                  : probe_kind::readiness;
        auto promise = self->make_response_promise<api_response>();
        auto id = req.request_id;
        auto stale_s = info.node_stale_s;
        // A scrape must answer even when the database does not: it then
        // reports troupe_database_up 0 with everything the process knows.
        auto wait = kind == probe_kind::metrics ? caf::duration{scrape_probe_deadline}
                                                : caf::infinite;
        auto answer = [=](const probe_result& probe) {
          switch (kind) {
            case probe_kind::status:
              return status(probe, info);
            case probe_kind::metrics:
              record_figures(probe);
              return metrics_response();
            case probe_kind::readiness:
              break;
          }
          return readiness(probe, info, id);
        };
        runtime::store_call_within(
            self, store, wait, id,
            [kind, stale_s](pqxx::connection& c) { return probe_database(c, kind, stale_s); },
            [=](json probe) mutable { promise.deliver(answer(std::move(probe))); },
            [=](caf::error&) mutable { promise.deliver(answer(std::nullopt)); });
        return promise;
      },
  };
}

} // namespace

api_actor spawn_system(caf::actor_system& sys, store_actor store, node_info info) {
  return sys.spawn(system_actor, std::move(store), std::move(info));
}

} // namespace troupe::system_endpoints
