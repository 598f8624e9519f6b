#include "actors/usage/usage.hpp"

#include "runtime/handlers.hpp"
#include "runtime/input.hpp"

#include <pqxx/pqxx>

namespace troupe::usage {
namespace {

using json = nlohmann::json;

std::optional<std::string> time_query(const api_request& req, const std::string& name) {
  auto it = req.query.find(name);
  if (it == req.query.end() || it->second.empty())
    return std::nullopt;
  if (!input::is_timestamp(it->second, true))
    throw invalid_argument(name, name + " must be a date (YYYY-MM-DD) or an RFC 3339 timestamp");
  return it->second;
}

// SQL for each grouping: the key expression.
std::string key_sql(const std::string& group_by) {
  if (group_by == "day")
    return "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')";
  if (group_by == "playbook")
    return "coalesce(playbook_id::text, '')";
  if (group_by == "operation")
    return "operation";
  return "model";
}

api_response usage_report(pqxx::connection& conn, const api_request& req, const int&) {
  auto from = time_query(req, "from");
  auto to = time_query(req, "to");
  auto group_by = input::enum_query(req, "group_by", {"day", "playbook", "operation", "model"});
  pqxx::read_transaction tx{conn};
  auto window = tx.exec_params(
      "SELECT rfc3339(coalesce($1::timestamptz, now() - interval '30 days')),"
      " rfc3339(coalesce($2::timestamptz, now()))",
      from, to);
  std::string lo = window[0][0].c_str(), hi = window[0][1].c_str();
  const char* sums =
      "coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),"
      " coalesce(sum(total_tokens), 0), coalesce(sum(cost_usd), 0)::text, count(*)";
  auto totals_of = [](const pqxx::row& r, int at) {
    return json{{"prompt_tokens", r[at].as<long long>()},
                {"completion_tokens", r[at + 1].as<long long>()},
                {"total_tokens", r[at + 2].as<long long>()},
                {"cost_usd", std::stod(r[at + 3].c_str())},
                {"calls", r[at + 4].as<long long>()}};
  };
  const char* where =
      " FROM usage_records WHERE user_id = $1 AND created_at >= $2::timestamptz"
      " AND created_at < $3::timestamptz";
  auto total = tx.exec_params(std::string{"SELECT "} + sums + where, req.caller.user_id, lo, hi);
  json out = {{"from", lo}, {"to", hi}, {"totals", totals_of(total[0], 0)}};
  if (group_by) {
    auto key = key_sql(*group_by);
    auto rows = tx.exec_params("SELECT " + key + ", " + sums + where + " GROUP BY 1 ORDER BY 1",
                               req.caller.user_id, lo, hi);
    json items = json::array();
    for (const auto& r : rows) {
      auto item = totals_of(r, 1);
      item["key"] = r[0].c_str();
      items.push_back(item);
    }
    out["group_by"] = *group_by;
    out["items"] = items;
  }
  return json_response(200, out);
}

const runtime::handler_table<int>& handlers() {
  static const runtime::handler_table<int> table = {{endpoint::usage_report, usage_report}};
  return table;
}

struct usage_state {
  static inline const char* name = "troupe.usage";
};

api_actor::behavior_type usage_actor(api_actor::stateful_pointer<usage_state> self,
                                     store_actor store) {
  return {
      [=](api_request& req) {
        return self->delegate(store, runtime::handler_task(handlers(), std::move(req), 0));
      },
  };
}

} // namespace

api_actor spawn_usage_api(caf::actor_system& sys, store_actor store) {
  return sys.spawn(usage_actor, std::move(store));
}

} // namespace troupe::usage
