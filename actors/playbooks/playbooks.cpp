#include "actors/playbooks/playbooks.hpp"

#include "actors/playbooks/playbook_context.hpp"
#include "actors/playbooks/playbook_format.hpp"
#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/handlers.hpp"
#include "runtime/input.hpp"
#include "runtime/metrics.hpp"
#include "runtime/outbox.hpp"
#include "text/utf8.hpp"
#include "runtime/store.hpp"

#include <pqxx/pqxx>

namespace troupe::playbooks {
namespace {

using json = nlohmann::json;
using limits_t = config::playbooks_settings;

// What the handlers share: the limits, and the relevance indexes of the
// versions (immutable, so cached by version id for as long as memory allows).
struct service_env : limits_t {
  std::shared_ptr<playbook::context_cache> contexts;
};

// The playbook as GET /v1/playbooks/{id} shows it; `p` is the playbooks row,
// `v` its current version (may be null).
const char* playbook_json_sql =
    "json_build_object('id', p.id, 'name', p.name, 'description', p.description,"
    " 'status', p.status, 'source', p.source, 'evolution_threshold', p.evolution_threshold,"
    " 'pending_outcomes', p.pending_outcomes,"
    " 'current_version', CASE WHEN v.id IS NULL THEN NULL ELSE json_build_object("
    "   'number', v.version_number, 'content', v.content, 'bullet_count', v.bullet_count,"
    "   'token_estimate', v.token_estimate, 'created_at', rfc3339(v.created_at)) END,"
    " 'active_job_id', (SELECT j.id FROM jobs j WHERE j.playbook_id = p.id"
    "   AND j.kind = 'evolution' AND j.status IN ('queued', 'running') LIMIT 1),"
    " 'created_at', rfc3339(p.created_at), 'updated_at', rfc3339(p.updated_at))::text";

// The same without the content, for listings.
const char* playbook_summary_sql =
    "json_build_object('id', p.id, 'name', p.name, 'description', p.description,"
    " 'status', p.status, 'source', p.source, 'evolution_threshold', p.evolution_threshold,"
    " 'pending_outcomes', p.pending_outcomes,"
    " 'current_version', CASE WHEN v.id IS NULL THEN NULL ELSE json_build_object("
    "   'number', v.version_number, 'bullet_count', v.bullet_count,"
    "   'token_estimate', v.token_estimate, 'created_at', rfc3339(v.created_at)) END,"
    " 'created_at', rfc3339(p.created_at), 'updated_at', rfc3339(p.updated_at))::text";

const char* version_summary_sql =
    "json_build_object('number', version_number, 'bullet_count', bullet_count,"
    " 'token_estimate', token_estimate, 'diff_summary', diff_summary,"
    " 'created_by_job_id', created_by_job_id, 'created_at', rfc3339(created_at))::text";

const char* version_json_sql =
    "json_build_object('number', version_number, 'content', content,"
    " 'bullet_count', bullet_count, 'token_estimate', token_estimate,"
    " 'diff_summary', diff_summary, 'created_by_job_id', created_by_job_id,"
    " 'created_at', rfc3339(created_at))::text";

std::string sql(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts)
    out += p;
  return out;
}

struct locked_playbook {
  std::string status;
  std::int64_t next_bullet_id;
  int latest_version;
};

// Locks the caller's playbook row: version numbers are assigned under it.
locked_playbook lock_playbook(pqxx::work& tx, const std::string& id, const std::string& user) {
  auto rows = tx.exec_params(
      "SELECT p.status, p.next_bullet_id,"
      " coalesce((SELECT max(version_number) FROM playbook_versions WHERE playbook_id = p.id), 0)"
      " FROM playbooks p WHERE p.id = $1 AND p.user_id = $2 FOR UPDATE",
      id, user);
  if (rows.empty())
    throw not_found("playbook");
  return {rows[0][0].c_str(), rows[0][1].as<std::int64_t>(), rows[0][2].as<int>()};
}

// Inserts version `number`, makes it current and announces it
// (playbook.version_created, as an evolution's version is, with no job).
json insert_version(pqxx::work& tx, const std::string& user, const std::string& playbook_id,
                    int number, const prepared_content& c,
                    const std::optional<std::string>& diff_summary) {
  auto version_id = crypto::uuid_v7();
  auto rows = tx.exec_params(
      sql({"INSERT INTO playbook_versions (id, playbook_id, version_number, content,"
           " bullet_count, token_estimate, diff_summary) VALUES ($1, $2, $3, $4, $5, $6, $7)"
           " RETURNING ",
           version_json_sql}),
      version_id, playbook_id, number, c.text, c.bullet_count, c.token_estimate, diff_summary);
  tx.exec_params("UPDATE playbooks SET current_version_id = $2, updated_at = now(),"
                 " next_bullet_id = greatest(next_bullet_id, $3) WHERE id = $1",
                 playbook_id, version_id, c.next_id);
  auto version = json::parse(rows[0][0].c_str());
  runtime::insert_events(tx, {{"playbook.version_created", user, playbook_id, "",
                               {{"playbook_id", playbook_id},
                                {"version", number},
                                {"job_id", nullptr},
                                {"diff_summary", version["diff_summary"]}}}});
  return version;
}

void require_active(const locked_playbook& p) {
  if (p.status != "active")
    throw conflict("the playbook is archived; set status to active to change it");
}

// ---- handlers -----------------------------------------------------------

api_response create(pqxx::connection& conn, const api_request& req, const limits_t& lim) {
  auto body = input::object_body(req);
  input::only_fields(body, {"name", "description", "content", "evolution_threshold"});
  auto name = *input::string_field(body, "name", name_limits(lim), true);
  auto description = input::string_field(body, "description", description_limits(lim), false);
  auto content = input::string_field(body, "content",
                                     {0, static_cast<std::size_t>(lim.max_content_bytes)}, false);
  auto threshold = input::int_field(body, "evolution_threshold", 1, 1000000, false)
                       .value_or(lim.default_evolution_threshold);
  std::optional<prepared_content> prepared;
  if (content)
    prepared = prepare_content(*content, 1);
  auto id = crypto::uuid_v7();
  pqxx::work tx{conn};
  tx.exec_params("INSERT INTO playbooks (id, user_id, name, description, evolution_threshold)"
                 " VALUES ($1, $2, $3, $4, $5)",
                 id, req.caller.user_id, name, description.value_or(""), threshold);
  if (prepared)
    insert_version(tx, req.caller.user_id, id, 1, *prepared,
                   std::optional<std::string>{"initial version"});
  auto out = fetch_playbook(tx, id, req.caller.user_id);
  tx.commit();
  return json_response(201, out);
}

api_response list(pqxx::connection& conn, const api_request& req, const limits_t&) {
  auto status = input::enum_query(req, "status", {"active", "archived"});
  int limit = input::limit_query(req);
  auto cursor = input::cursor_query(req);
  if (cursor && !crypto::is_uuid(*cursor))
    throw invalid_argument("cursor", "cursor is not one this server issued");
  pqxx::read_transaction tx{conn};
  auto rows = tx.exec_params(
      sql({"SELECT ", playbook_summary_sql, ", p.id",
           " FROM playbooks p LEFT JOIN playbook_versions v ON v.id = p.current_version_id"
           " WHERE p.user_id = $1 AND ($2::text IS NULL OR p.status = $2)"
           " AND ($3::uuid IS NULL OR p.id < $3::uuid) ORDER BY p.id DESC LIMIT $4"}),
      req.caller.user_id, status, cursor, limit + 1);
  return json_response(200, input::page(rows, limit));
}

api_response get(pqxx::connection& conn, const api_request& req, const limits_t&) {
  auto id = input::uuid_param(req, 0, "id");
  pqxx::read_transaction tx{conn};
  return json_response(200, fetch_playbook(tx, id, req.caller.user_id));
}

api_response patch(pqxx::connection& conn, const api_request& req, const limits_t& lim) {
  auto id = input::uuid_param(req, 0, "id");
  auto body = input::object_body(req);
  input::only_fields(body, {"name", "description", "status", "evolution_threshold"});
  if (body.empty())
    throw invalid_argument("", "nothing to change: give name, description, status or "
                               "evolution_threshold");
  auto name = input::string_field(body, "name", name_limits(lim), false);
  auto description = input::string_field(body, "description", description_limits(lim), false);
  auto status = input::string_field(body, "status", {1, 16}, false);
  if (status && *status != "active" && *status != "archived")
    throw invalid_argument("status", "status must be one of active, archived");
  auto threshold = input::int_field(body, "evolution_threshold", 1, 1000000, false);
  pqxx::work tx{conn};
  auto rows = tx.exec_params(
      "UPDATE playbooks SET name = coalesce($3, name), description = coalesce($4, description),"
      " status = coalesce($5, status), evolution_threshold = coalesce($6, evolution_threshold),"
      " updated_at = now() WHERE id = $1 AND user_id = $2 RETURNING id",
      id, req.caller.user_id, name, description, status, threshold);
  if (rows.empty())
    throw not_found("playbook");
  auto out = fetch_playbook(tx, id, req.caller.user_id);
  tx.commit();
  return json_response(200, out);
}

api_response archive(pqxx::connection& conn, const api_request& req, const limits_t&) {
  auto id = input::uuid_param(req, 0, "id");
  pqxx::work tx{conn};
  auto rows = tx.exec_params(
      "UPDATE playbooks SET status = 'archived', updated_at = CASE WHEN status = 'archived'"
      " THEN updated_at ELSE now() END WHERE id = $1 AND user_id = $2 RETURNING id",
      id, req.caller.user_id);
  if (rows.empty())
    throw not_found("playbook");
  tx.commit();
  return no_content();
}

api_response list_versions(pqxx::connection& conn, const api_request& req, const limits_t&) {
  auto id = input::uuid_param(req, 0, "id");
  int limit = input::limit_query(req);
  auto cursor = input::cursor_query(req);
  std::optional<int> before;
  if (cursor) {
    try {
      before = std::stoi(*cursor);
    } catch (const std::exception&) {
      throw invalid_argument("cursor", "cursor is not one this server issued");
    }
  }
  pqxx::read_transaction tx{conn};
  require_owned(tx, id, req.caller.user_id);
  auto rows = tx.exec_params(
      sql({"SELECT ", version_summary_sql, ", version_number FROM playbook_versions"
                                           " WHERE playbook_id = $1 AND ($2::int IS NULL OR"
                                           " version_number < $2) ORDER BY version_number DESC"
                                           " LIMIT $3"}),
      id, before, limit + 1);
  return json_response(200, input::page(rows, limit));
}

std::optional<std::string> version_content(pqxx::transaction_base& tx, const std::string& id,
                                           std::int64_t number) {
  auto rows = tx.exec_params(
      "SELECT content FROM playbook_versions WHERE playbook_id = $1 AND version_number = $2", id,
      number);
  if (rows.empty())
    return std::nullopt;
  return std::string{rows[0][0].c_str()};
}

api_response get_version(pqxx::connection& conn, const api_request& req, const limits_t&) {
  auto id = input::uuid_param(req, 0, "id");
  auto number = input::positive_param(req, 1, "n");
  pqxx::read_transaction tx{conn};
  require_owned(tx, id, req.caller.user_id);
  auto rows = tx.exec_params(sql({"SELECT ", version_json_sql,
                                  " FROM playbook_versions WHERE playbook_id = $1"
                                  " AND version_number = $2"}),
                             id, number);
  if (rows.empty())
    throw not_found("version");
  return json_response(200, json::parse(rows[0][0].c_str()));
}

api_response create_version(pqxx::connection& conn, const api_request& req, const limits_t& lim) {
  auto id = input::uuid_param(req, 0, "id");
  auto body = input::object_body(req);
  input::only_fields(body, {"content", "diff_summary"});
  auto content = *input::string_field(body, "content",
                                      {0, static_cast<std::size_t>(lim.max_content_bytes)}, true);
  auto summary = input::string_field(body, "diff_summary", {0, 4096}, false);
  pqxx::work tx{conn};
  auto p = lock_playbook(tx, id, req.caller.user_id);
  require_active(p);
  auto prepared = prepare_content(content, p.next_bullet_id);
  auto out = insert_version(tx, req.caller.user_id, id, p.latest_version + 1, prepared,
                            summary ? summary : std::optional<std::string>{"manual version"});
  tx.commit();
  return json_response(201, out);
}

api_response rollback(pqxx::connection& conn, const api_request& req, const limits_t&) {
  auto id = input::uuid_param(req, 0, "id");
  auto body = input::object_body(req);
  input::only_fields(body, {"version_number"});
  auto target = *input::int_field(body, "version_number", 1, 2147483647, true);
  pqxx::work tx{conn};
  auto p = lock_playbook(tx, id, req.caller.user_id);
  require_active(p);
  auto content = version_content(tx, id, target);
  if (!content)
    throw not_found("version " + std::to_string(target));
  auto prepared = prepare_content(*content, p.next_bullet_id);
  auto out = insert_version(tx, req.caller.user_id, id, p.latest_version + 1, prepared,
                            "rollback to version " + std::to_string(target));
  tx.commit();
  return json_response(201, out);
}

json bullet_json(const playbook::bullet& b) {
  return {{"id", b.id}, {"helpful", b.helpful}, {"harmful", b.harmful}, {"content", b.content}};
}

api_response diff(pqxx::connection& conn, const api_request& req, const limits_t&) {
  auto id = input::uuid_param(req, 0, "id");
  auto number = input::positive_param(req, 1, "n");
  std::int64_t from = number - 1;
  if (auto it = req.query.find("from"); it != req.query.end()) {
    api_request probe;
    probe.params = {it->second};
    from = input::positive_param(probe, 0, "from");
  }
  pqxx::read_transaction tx{conn};
  require_owned(tx, id, req.caller.user_id);
  auto to_text = version_content(tx, id, number);
  if (!to_text)
    throw not_found("version " + std::to_string(number));
  std::string from_text;
  if (from >= 1) {
    auto found = version_content(tx, id, from);
    if (!found)
      throw not_found("version " + std::to_string(from));
    from_text = *found;
  }
  auto d = playbook::diff(playbook::parse(from_text), playbook::parse(*to_text));
  json added = json::array(), removed = json::array(), changed = json::array();
  for (const auto& b : d.added)
    added.push_back(bullet_json(b));
  for (const auto& b : d.removed)
    removed.push_back(bullet_json(b));
  for (const auto& c : d.changed)
    changed.push_back({{"id", c.id}, {"from", bullet_json(c.from)}, {"to", bullet_json(c.to)}});
  return json_response(200, {{"from", from},
                             {"to", number},
                             {"added", added},
                             {"removed", removed},
                             {"changed", changed}});
}

// ---- task-relevant context -----------------------------------------------

constexpr std::int64_t default_context_tokens = 2000;
constexpr std::size_t max_task_bytes = 10 * 1024;

// The index of version `version_id`: built from its content on first use,
// then taken from the cache (versions never change).
std::shared_ptr<const playbook::context_index>
index_of(pqxx::transaction_base& tx, playbook::context_cache& cache,
         const std::string& version_id) {
  if (auto hit = cache.find(version_id))
    return hit;
  auto rows = tx.exec_params("SELECT content FROM playbook_versions WHERE id = $1", version_id);
  auto index = std::make_shared<const playbook::context_index>(
      playbook::parse(rows.empty() ? "" : rows[0][0].c_str()));
  cache.put(version_id, index);
  metrics::context_index_built();
  return index;
}

std::string task_text(const std::string& field, std::optional<std::string> value) {
  if (!value || value->empty())
    throw invalid_argument(field, field + " is required: the task the context is for");
  if (value->size() > max_task_bytes)
    throw api_error(413, "payload_too_large",
                    field + " is longer than " + std::to_string(max_task_bytes) + " bytes", field);
  return *value;
}

api_response context(pqxx::connection& conn, const api_request& req, const service_env& env) {
  auto id = input::uuid_param(req, 0, "id");
  auto it = req.query.find("task");
  auto task = task_text("task", it == req.query.end() ? std::nullopt
                                                      : std::optional<std::string>{it->second});
  auto budget = input::int_query(req, "max_tokens", 1, 1000000).value_or(default_context_tokens);
  auto version = input::int_query(req, "version", 1, 2147483647);
  pqxx::read_transaction tx{conn};
  auto rows = tx.exec_params(
      "SELECT v.id, v.version_number FROM playbooks p LEFT JOIN playbook_versions v"
      " ON CASE WHEN $3::int IS NULL THEN v.id = p.current_version_id"
      "    ELSE v.playbook_id = p.id AND v.version_number = $3::int END"
      " WHERE p.id = $1 AND p.user_id = $2",
      id, req.caller.user_id, version);
  if (rows.empty())
    throw not_found("playbook");
  if (rows[0][0].is_null())
    throw not_found(version ? "version " + std::to_string(*version) : "version (the playbook has none yet)");
  auto index = index_of(tx, *env.contexts, rows[0][0].c_str());
  auto s = index->select(task, budget);
  return json_response(200, {{"playbook_id", id},
                             {"version", rows[0][1].as<int>()},
                             {"content", s.content},
                             {"bullet_ids", s.bullet_ids},
                             {"token_estimate", s.token_estimate},
                             {"total_bullets", s.total_bullets},
                             {"max_tokens", budget}});
}

// The MCP tool find_playbook: the caller's active playbooks ranked by how
// well their current version matches the task (context_index::relevance),
// ties by name matches, then the most recently updated; the best five.
api_response find(pqxx::connection& conn, const api_request& req, const service_env& env) {
  auto body = input::object_body(req);
  input::only_fields(body, {"task_description"});
  auto task = task_text("task_description",
                        input::string_field(body, "task_description", {0, max_task_bytes + 1}, false));
  pqxx::read_transaction tx{conn};
  auto rows = tx.exec_params(
      "SELECT p.id, p.name, p.description, v.id, v.version_number FROM playbooks p"
      " LEFT JOIN playbook_versions v ON v.id = p.current_version_id"
      " WHERE p.user_id = $1 AND p.status = 'active' ORDER BY p.updated_at DESC, p.id LIMIT 200",
      req.caller.user_id);
  auto task_words = playbook::distinct_words(task);
  // The task's words are weighed over every candidate's bullets, so that a
  // one-bullet playbook and a large one score on the same scale.
  std::vector<std::shared_ptr<const playbook::context_index>> indexes;
  std::vector<std::size_t> df(task_words.size(), 0);
  std::size_t bullets = 0;
  for (const auto& r : rows) {
    indexes.push_back(r[3].is_null() ? nullptr : index_of(tx, *env.contexts, r[3].c_str()));
    if (!indexes.back())
      continue;
    bullets += static_cast<std::size_t>(indexes.back()->total_bullets());
    for (std::size_t t = 0; t < task_words.size(); ++t)
      df[t] += indexes.back()->document_frequency(task_words[t]);
  }
  auto weighted = playbook::context_index::weigh(task_words, df, bullets);
  struct candidate {
    json item;
    double score;
    std::size_t name_hits;
    std::size_t order;
  };
  std::vector<candidate> found;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    double score = indexes[i] ? indexes[i]->relevance(weighted) : 0;
    auto named = playbook::words(std::string{r[1].c_str()} + " " + r[2].c_str());
    std::size_t hits = 0;
    for (const auto& w : task_words)
      hits += std::count(named.begin(), named.end(), w) > 0;
    if (score <= 0 && hits == 0)
      continue;
    found.push_back({{{"id", r[0].c_str()},
                      {"name", r[1].c_str()},
                      {"description", r[2].c_str()},
                      {"version", r[4].is_null() ? json(nullptr) : json(r[4].as<int>())},
                      {"score", std::round(score * 1000) / 1000}},
                     score,
                     hits,
                     i});
  }
  std::sort(found.begin(), found.end(), [](const candidate& a, const candidate& b) {
    if (a.score != b.score)
      return a.score > b.score;
    if (a.name_hits != b.name_hits)
      return a.name_hits > b.name_hits;
    return a.order < b.order;
  });
  json items = json::array();
  for (std::size_t i = 0; i < found.size() && i < 5; ++i)
    items.push_back(found[i].item);
  return json_response(200, {{"best", items.empty() ? json(nullptr) : items[0]}, {"items", items}});
}

const runtime::handler_table<service_env>& handlers() {
  static const runtime::handler_table<service_env> table = {
      {endpoint::playbook_context, context},
      {endpoint::find_playbook, find},
      {endpoint::create_playbook, create},
      {endpoint::list_playbooks, list},
      {endpoint::get_playbook, get},
      {endpoint::update_playbook, patch},
      {endpoint::archive_playbook, archive},
      {endpoint::list_versions, list_versions},
      {endpoint::create_version, create_version},
      {endpoint::get_version, get_version},
      {endpoint::diff_versions, diff},
      {endpoint::rollback, rollback},
  };
  return table;
}

struct playbooks_state {
  static inline const char* name = "troupe.playbooks";
};

api_actor::behavior_type playbooks_actor(api_actor::stateful_pointer<playbooks_state> self,
                                         store_actor store, limits_t settings) {
  service_env limits;
  static_cast<limits_t&>(limits) = settings;
  limits.contexts = std::make_shared<playbook::context_cache>(
      static_cast<std::size_t>(settings.context_cache_mb) << 20);
  return {
      [=](api_request& req) {
        return self->delegate(store, runtime::handler_task(handlers(), std::move(req), limits));
      },
  };
}

} // namespace

prepared_content prepare_content(const std::string& raw, std::int64_t next_id) {
  if (!text::valid_utf8(raw))
    throw invalid_argument("content", "content must be valid UTF-8");
  auto doc = playbook::parse_any(raw, next_id);
  auto dups = playbook::duplicate_ids(doc);
  if (!dups.empty())
    throw invalid_argument("content", "bullet id '" + dups.front() + "' occurs more than once");
  prepared_content c;
  c.text = playbook::print(doc);
  c.bullet_count = playbook::bullet_count(doc);
  c.token_estimate = playbook::token_estimate(doc);
  c.next_id = std::max(next_id, playbook::next_id_after(doc));
  return c;
}

nlohmann::json fetch_playbook(pqxx::transaction_base& tx, const std::string& id,
                              const std::string& user) {
  auto rows = tx.exec_prepared("troupe.playbook_get", id, user);
  if (rows.empty())
    throw not_found("playbook");
  return json::parse(rows[0][0].c_str());
}

// The byte limits (4 bytes per character at most in UTF-8) only stop a huge
// string before its characters are counted.
input::text_limits name_limits(const config::playbooks_settings& lim) {
  auto chars = static_cast<std::size_t>(lim.max_name_chars);
  return {1, 4 * chars, chars};
}

input::text_limits description_limits(const config::playbooks_settings& lim) {
  auto chars = static_cast<std::size_t>(lim.max_description_chars);
  return {0, 4 * chars, chars};
}

void register_statements() {
  runtime::register_statement("troupe.playbook_get",
                              sql({"SELECT ", playbook_json_sql,
                                   " FROM playbooks p LEFT JOIN playbook_versions v"
                                   " ON v.id = p.current_version_id"
                                   " WHERE p.id = $1 AND p.user_id = $2"}));
}

void require_owned(pqxx::transaction_base& tx, const std::string& id, const std::string& user) {
  if (tx.exec_params("SELECT 1 FROM playbooks WHERE id = $1 AND user_id = $2", id, user).empty())
    throw not_found("playbook");
}

api_actor spawn_playbooks(caf::actor_system& sys, store_actor store,
                          config::playbooks_settings limits) {
  return sys.spawn(playbooks_actor, std::move(store), std::move(limits));
}

} // namespace troupe::playbooks
