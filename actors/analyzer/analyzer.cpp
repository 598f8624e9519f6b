#include "actors/analyzer/analyzer.hpp"

#include "actors/analyzer/repository.hpp"
#include "actors/analyzer/source.hpp"
#include "messages/errors.hpp"
#include "runtime/blocking.hpp"
#include "runtime/crypto.hpp"
#include "runtime/handlers.hpp"
#include "runtime/input.hpp"
#include "runtime/job_lifecycle.hpp"
#include "runtime/log.hpp"

#include <sodium.h>

#include <map>
#include <memory>
#include <pqxx/pqxx>

namespace troupe::analyzer {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr std::size_t max_name_bytes = 400;
constexpr std::size_t max_name_chars = 200;

// A project as the API shows it. Its status follows its newest analysis
// (queued: pending, running: analyzing, completed: ready, failed or
// cancelled: failed); `p` is projects, `j` that job (LEFT JOIN LATERAL).
constexpr const char* project_json =
    "json_build_object('id', p.id, 'name', p.name, 'repository_url', p.repository_url,"
    " 'ref', p.ref, 'status', CASE j.status WHEN 'queued' THEN 'pending'"
    " WHEN 'running' THEN 'analyzing' WHEN 'completed' THEN 'ready' WHEN 'failed' THEN 'failed'"
    " WHEN 'cancelled' THEN 'failed' ELSE p.status END,"
    " 'has_system_map', EXISTS (SELECT 1 FROM system_maps m WHERE m.project_id = p.id),"
    " 'latest_job', CASE WHEN j.id IS NULL THEN NULL ELSE json_build_object('id', j.id,"
    " 'kind', j.kind, 'status', j.status, 'attempt', j.attempt, 'max_attempts', j.max_attempts,"
    " 'progress', j.progress, 'error', j.error_message, 'created_at', rfc3339(j.created_at),"
    " 'started_at', rfc3339(j.started_at), 'completed_at', rfc3339(j.completed_at)) END,"
    " 'created_at', rfc3339(p.created_at), 'updated_at', rfc3339(p.updated_at))::text";

constexpr const char* newest_job =
    " LEFT JOIN LATERAL (SELECT * FROM jobs WHERE project_id = p.id ORDER BY id DESC LIMIT 1) j"
    " ON true";

json read_project(pqxx::transaction_base& tx, const std::string& id, const std::string& user) {
  static const runtime::statement sql{std::string{"SELECT "} + project_json +
                                      " FROM projects p" + newest_job +
                                      " WHERE p.id = $1 AND p.user_id = $2"};
  auto rows = sql(tx, id, user);
  if (rows.empty())
    throw not_found("project");
  return json::parse(rows[0][0].c_str());
}

// The project's row, locked: 404 for another user's or a missing one.
void lock_project(pqxx::transaction_base& tx, const std::string& id, const std::string& user) {
  static const runtime::statement sql{
      "SELECT 1 FROM projects WHERE id = $1 AND user_id = $2 FOR UPDATE"};
  if (sql(tx, id, user).empty())
    throw not_found("project");
}

// Queues an analysis of the project unless one is queued or running (the
// project's row is locked by the caller; the partial unique index backs it).
std::pair<std::string, bool> queue_analysis(pqxx::transaction_base& tx, const std::string& id,
                                            const std::string& user, int max_attempts) {
  static const runtime::statement active{
      "SELECT id FROM jobs WHERE project_id = $1 AND kind = 'repository_analysis'"
      " AND status IN ('queued', 'running')"};
  auto rows = active(tx, id);
  if (!rows.empty())
    return {rows[0][0].c_str(), false};
  auto job = lifecycle::enqueue(tx, {.kind = "repository_analysis",
                                     .user_id = user,
                                     .playbook_id = {},
                                     .project_id = id,
                                     .max_attempts = max_attempts,
                                     .payload = {{"project_id", id}},
                                     .queued_topic = "repository.queued"});
  return {job, true};
}

// ---- the API ----------------------------------------------------------------------------

api_response create(pqxx::connection& conn, const api_request& req, const projects_options& o) {
  auto body = input::object_body(req);
  input::only_fields(body, {"name", "repository_url", "ref"});
  auto name = *input::string_field(body, "name", {1, max_name_bytes, max_name_chars}, true);
  auto url = *input::string_field(body, "repository_url", {1, 4096, 0}, true);
  auto ref = input::string_field(body, "ref", {1, 1024, 0}, false);
  if (ref)
    check_ref(*ref);
  auto source = read_repository_url(url, o.allowed_roots);
  std::optional<std::string> sealed;
  if (!source.username.empty())
    sealed = seal_credentials(o.credentials_key, source.username, source.password);
  auto id = crypto::uuid_v7();
  pqxx::work tx{conn};
  static const runtime::statement insert{
      "INSERT INTO projects (id, user_id, name, repository_url, ref, credentials)"
      " VALUES ($1, $2, $3, $4, $5, $6)"};
  insert(tx, id, req.caller.user_id, name, source.url, ref, sealed);
  queue_analysis(tx, id, req.caller.user_id, o.max_attempts);
  auto project = read_project(tx, id, req.caller.user_id);
  tx.commit();
  return json_response(201, project);
}

api_response list(pqxx::connection& conn, const api_request& req, const projects_options&) {
  int limit = input::limit_query(req);
  auto cursor = input::cursor_query(req);
  if (cursor && !crypto::is_uuid(*cursor))
    throw invalid_argument("cursor", "cursor is not one this server issued");
  static const runtime::statement sql{std::string{"SELECT "} + project_json +
                                      ", p.id FROM projects p" + newest_job +
                                      " WHERE p.user_id = $1 AND ($2::uuid IS NULL OR p.id < $2::uuid)"
                                      " ORDER BY p.id DESC LIMIT $3"};
  pqxx::read_transaction tx{conn};
  return json_response(200, input::page(sql(tx, req.caller.user_id, cursor, limit + 1), limit));
}

api_response get(pqxx::connection& conn, const api_request& req, const projects_options&) {
  auto id = input::uuid_param(req, 0, "id");
  pqxx::read_transaction tx{conn};
  return json_response(200, read_project(tx, id, req.caller.user_id));
}

api_response analyze(pqxx::connection& conn, const api_request& req, const projects_options& o) {
  auto id = input::uuid_param(req, 0, "id");
  if (!req.body.empty()) {
    auto body = input::object_body(req);
    input::only_fields(body, {});
  }
  pqxx::work tx{conn};
  lock_project(tx, id, req.caller.user_id);
  auto [job, is_new] = queue_analysis(tx, id, req.caller.user_id, o.max_attempts);
  auto project = read_project(tx, id, req.caller.user_id);
  tx.commit();
  return json_response(202, {{"job_id", job}, {"is_new", is_new}, {"project", project}});
}

api_response system_map(pqxx::connection& conn, const api_request& req, const projects_options&) {
  auto id = input::uuid_param(req, 0, "id");
  auto format = input::enum_query(req, "format", {"json", "mermaid"}).value_or("json");
  for (const auto& [key, value] : req.query)
    if (key != "format")
      throw invalid_argument(key, "unknown query parameter " + key + " (use format)");
  pqxx::read_transaction tx{conn};
  read_project(tx, id, req.caller.user_id); // 404 for another user's
  static const runtime::statement sql{
      "SELECT content::text FROM system_maps WHERE project_id = $1"
      " ORDER BY generated_at DESC, id DESC LIMIT 1"};
  auto rows = sql(tx, id);
  if (rows.empty())
    throw api_error(404, "not_found",
                    "this project has no system map yet: its first analysis has not completed");
  if (format == "json") {
    api_response r;
    r.status = 200;
    r.body = rows[0][0].c_str(); // the stored document as it is
    return r;
  }
  api_response r;
  r.status = 200;
  r.body = mermaid(json::parse(rows[0][0].c_str()));
  r.headers["Content-Type"] = "text/plain; charset=utf-8";
  return r;
}

const runtime::handler_table<projects_options>& handlers() {
  static const runtime::handler_table<projects_options> table = {
      {endpoint::create_project, create},   {endpoint::list_projects, list},
      {endpoint::get_project, get},         {endpoint::analyze_project, analyze},
      {endpoint::get_system_map, system_map},
  };
  return table;
}

struct api_state {
  static inline const char* name = "troupe.projects";
};

api_actor::behavior_type api(api_actor::stateful_pointer<api_state> self, store_actor store,
                             projects_options opts) {
  return {
      [=](api_request& req) {
        return self->delegate(store, runtime::handler_task(handlers(), std::move(req), opts));
      },
  };
}

// ---- the executor -------------------------------------------------------------------------

// Why an attempt stops short: the message the job records, and whether
// trying again may help.
struct failure {
  std::string message;
  bool retryable = false;
};

// One attempt's way through its phases; the blocking phases write only
// here, and the actor reads it once they answered.
struct attempt {
  job_assignment job;
  caf::typed_response_promise<job_result> promise;
  std::string project_id;
  std::string url;
  std::string ref;
  std::string username, password;
  bool local = false;
  fs::path dir; // the scratch directory
  std::atomic<bool> stop{false};
  std::optional<failure> failed; // set by a phase
  fetch_result fetched;
  analysis analysed;
  history_summary history;
};

using attempt_ptr = std::shared_ptr<attempt>;

struct executor_state {
  std::map<std::string, attempt_ptr> active; // job id → its attempt
  static inline const char* name = "troupe.analyzer";
};

using executor_pointer = job_executor_actor::stateful_pointer<executor_state>;

struct context {
  store_actor store;
  analyzer_options opts;
};
using context_ptr = std::shared_ptr<const context>;

void remove_scratch(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec)
    log::warn("could not remove an analysis' scratch directory",
              {{"dir", dir.string()}, {"error", ec.message()}});
}

// Answers the attempt once its scratch directory is gone (removed on a
// blocking worker: a checkout of many files takes a while to delete).
void answer(executor_pointer self, const attempt_ptr& a, attempt_end status,
            std::string error = {}, bool retryable = true) {
  self->state.active.erase(a->job.id);
  bool committed = status == attempt_end::completed;
  job_result result{a->job.id, a->job.lease_token, status, committed, retryable, std::move(error),
                    ""};
  if (a->dir.empty()) {
    a->promise.deliver(std::move(result));
    return;
  }
  auto dir = a->dir;
  self->request(runtime::spawn_blocking(self->system()), caf::infinite,
                runtime::blocking_call{[dir] { remove_scratch(dir); }})
      .then([a, result](std::string&) mutable { a->promise.deliver(std::move(result)); },
            [a, result](caf::error&) mutable { a->promise.deliver(std::move(result)); });
}

// Ends the attempt when it was asked to stop or a phase failed; true then.
bool ended(executor_pointer self, const attempt_ptr& a) {
  if (a->stop.load() && !a->failed) {
    answer(self, a, attempt_end::cancelled);
    return true;
  }
  if (a->failed) {
    auto f = *a->failed;
    answer(self, a, a->stop.load() ? attempt_end::cancelled : attempt_end::failed, f.message,
           f.retryable);
    return true;
  }
  return false;
}

// Runs `work` (one phase) on a blocking worker; then `next` on this actor.
template <class Work, class Next>
void phase(executor_pointer self, const attempt_ptr& a, Work work, Next next) {
  self->request(runtime::spawn_blocking(self->system()), caf::infinite,
                runtime::blocking_call{[a, work]() mutable {
                  try {
                    work(*a);
                  } catch (const git_failure& e) {
                    a->failed = failure{e.what(), e.retryable};
                  } catch (const limit_exceeded& e) {
                    a->failed = failure{e.what(), false};
                  } catch (const analysis_stopped& e) {
                    a->failed = failure{e.what(), false};
                  } catch (const std::exception& e) {
                    a->failed = failure{std::string{"the analysis failed: "} + e.what(), false};
                  }
                }})
      .then(
          [=](std::string& problem) {
            if (!problem.empty() && !a->failed)
              a->failed = failure{problem, false};
            if (!ended(self, a))
              next();
          },
          [=](caf::error& e) { answer(self, a, attempt_end::failed, caf::to_string(e)); });
}

// A fenced progress step, then `next`.
template <class Next>
void report(executor_pointer self, const context_ptr& ctx, const attempt_ptr& a, json step,
            Next next) {
  auto job = a->job;
  runtime::store_call(
      self, ctx->store, job.id,
      [job, step](pqxx::connection& c) { return lifecycle::progress(c, job, step); },
      [=](bool held) {
        if (!held)
          return answer(self, a, attempt_end::lost);
        if (!ended(self, a))
          next();
      },
      [=](caf::error& e) { answer(self, a, attempt_end::failed, message_of(e)); });
}

json history_json(const history_summary& h) {
  json top = json::array();
  for (const auto& c : h.top_contributors)
    top.push_back({{"name", c.name}, {"email", c.email}, {"commits", c.commits}});
  json changed = json::array();
  for (const auto& f : h.most_changed)
    changed.push_back({{"path", f.path}, {"changes", f.changes}});
  return {{"commits", h.commits},
          {"contributors", h.contributors},
          {"top_contributors", top},
          {"last_commit",
           h.commits == 0 ? json(nullptr)
                          : json{{"id", h.last_commit_id},
                                 {"author", h.last_commit_author},
                                 {"time", h.last_commit_time},
                                 {"summary", h.last_commit_summary}}},
          {"window", h.window},
          {"most_changed", changed}};
}

void commit(executor_pointer self, const context_ptr& ctx, const attempt_ptr& a) {
  auto map = to_json(a->analysed);
  map["schema"] = "troupe.system_map/1";
  map["repository"] = {{"url", a->url},
                       {"ref", a->ref.empty() ? json(nullptr) : json(a->ref)},
                       {"ref_kind", a->fetched.ref_kind},
                       {"commit", a->fetched.commit}};
  map["history"] = history_json(a->history);
  auto job = a->job;
  auto project = a->project_id;
  auto content = std::make_shared<std::string>(map.dump());
  json totals = map["totals"];
  runtime::store_call(
      self, ctx->store, job.id,
      [job, project, content, totals](pqxx::connection& conn) {
        return lifecycle::complete(conn, job, [&](pqxx::work& tx, const std::string& user) {
          static const runtime::statement store_map{
              "WITH m AS (INSERT INTO system_maps (id, project_id, job_id, content)"
              " VALUES ($1, $2, $3, $4::jsonb) RETURNING id)"
              " UPDATE projects SET status = 'ready', updated_at = now() WHERE id = $2"};
          auto map_id = crypto::uuid_v7();
          store_map(tx, map_id, project, job.id, *content);
          lifecycle::completion c;
          c.result = {{"system_map_id", map_id}, {"project_id", project}, {"totals", totals}};
          c.progress = {{"step", "committed"}};
          c.event_data = {{"project_id", project}};
          c.events_after.push_back({"repository.analyzed", user, "", job.id,
                                    {{"project_id", project},
                                     {"job_id", job.id},
                                     {"system_map_id", map_id},
                                     {"totals", totals}}});
          return c;
        });
      },
      [=](bool held) { answer(self, a, held ? attempt_end::completed : attempt_end::lost); },
      [=](caf::error& e) { answer(self, a, attempt_end::failed, message_of(e)); });
}

void run_history(executor_pointer self, const context_ptr& ctx, const attempt_ptr& a) {
  int window = ctx->opts.history_commits;
  phase(
      self, a,
      [window](attempt& at) { at.history = read_history(at.dir, window, at.stop); },
      [=] {
        report(self, ctx, a,
               {{"step", "history"}, {"commits", a->history.commits},
                {"contributors", a->history.contributors}},
               [=] { commit(self, ctx, a); });
      });
}

void run_analysis(executor_pointer self, const context_ptr& ctx, const attempt_ptr& a) {
  auto limits = ctx->opts.limits;
  phase(
      self, a, [limits](attempt& at) { at.analysed = analyse(at.dir, limits, at.stop); },
      [=] {
        const auto& t = a->analysed.total;
        report(self, ctx, a,
               {{"step", "analyse"},
                {"files", t.files},
                {"code", t.lines.code},
                {"languages", a->analysed.languages.size()},
                {"modules", a->analysed.modules.size()}},
               [=] { run_history(self, ctx, a); });
      });
}

void run_fetch(executor_pointer self, const context_ptr& ctx, const attempt_ptr& a) {
  auto roots = ctx->opts.allowed_roots;
  auto max_bytes = ctx->opts.max_bytes;
  phase(
      self, a,
      [roots, max_bytes](attempt& at) {
        std::error_code ec;
        fs::create_directories(at.dir.parent_path(), ec);
        fs::remove_all(at.dir, ec); // a leftover of this very attempt
        std::string url = at.url;
        if (at.local) {
          // The path again: a symlink may have moved it out of the roots.
          auto path = allowed_local_path(at.url, roots);
          if (!path)
            throw git_failure("the local path is no longer inside "
                              "repository_analyzer.allowed_local_roots",
                              false);
          url = *path;
        }
        at.fetched = fetch({url, at.username, at.password, at.ref, at.dir, max_bytes, &at.stop});
      },
      [=] {
        report(self, ctx, a,
               {{"step", "fetch"},
                {"commit", a->fetched.commit},
                {"received_bytes", a->fetched.received_bytes},
                {"objects", a->fetched.objects}},
               [=] { run_analysis(self, ctx, a); });
      });
}

// The project of the job, read under the fence; its status becomes analyzing.
struct loaded {
  bool held = false;
  bool found = false;
  std::string url, ref, credentials;
};

loaded load(pqxx::connection& conn, const job_assignment& job, const std::string& project) {
  static const runtime::statement sql{
      "WITH held AS (SELECT j.id FROM " + lifecycle::fenced_from() + "),"
      " p AS (UPDATE projects SET status = 'analyzing', updated_at = now()"
      " WHERE id = $2 AND EXISTS (SELECT 1 FROM held)"
      " RETURNING repository_url, coalesce(ref, ''), coalesce(credentials, ''))"
      " SELECT (SELECT count(*) FROM held), p.* FROM (SELECT 1) one LEFT JOIN p ON true"};
  pqxx::nontransaction tx{conn};
  auto rows = sql(tx, lifecycle::lease_parameter(job), project);
  loaded out;
  out.held = rows[0][0].as<int>() > 0;
  out.found = !rows[0][1].is_null();
  if (out.found) {
    out.url = rows[0][1].c_str();
    out.ref = rows[0][2].c_str();
    out.credentials = rows[0][3].c_str();
  }
  return out;
}

void start(executor_pointer self, const context_ptr& ctx, const attempt_ptr& a) {
  auto job = a->job;
  auto project = a->project_id;
  runtime::store_call(
      self, ctx->store, job.id, [job, project](pqxx::connection& c) { return load(c, job, project); },
      [=](loaded l) {
        if (!l.held)
          return answer(self, a, attempt_end::lost);
        if (!l.found)
          return answer(self, a, attempt_end::failed, "the project no longer exists", false);
        a->url = l.url;
        a->ref = l.ref;
        a->local = !l.url.empty() && l.url[0] == '/';
        if (!l.credentials.empty()) {
          auto creds = open_credentials(ctx->opts.credentials_key, l.credentials);
          if (!creds)
            return answer(self, a, attempt_end::failed,
                          "the project's credentials cannot be opened with this node's "
                          "repository_analyzer.credentials_key",
                          false);
          a->username = creds->first;
          a->password = creds->second;
        }
        a->dir = ctx->opts.scratch_root /
                 (a->job.id + "-" + std::to_string(a->job.attempt));
        if (ended(self, a))
          return;
        run_fetch(self, ctx, a);
      },
      [=](caf::error& e) { answer(self, a, attempt_end::failed, message_of(e)); });
}

job_executor_actor::behavior_type executor(executor_pointer self, context_ptr ctx) {
  return {
      [=](job_assignment& job) -> caf::result<job_result> {
        auto a = std::make_shared<attempt>();
        a->promise = self->make_response_promise<job_result>();
        a->job = std::move(job);
        self->state.active[a->job.id] = a;
        auto payload = json::parse(a->job.payload, nullptr, false);
        if (!payload.is_object() || !payload.contains("project_id") ||
            !payload["project_id"].is_string()) {
          answer(self, a, attempt_end::failed, "the job's payload names no project", false);
          return a->promise;
        }
        a->project_id = payload["project_id"].get<std::string>();
        start(self, ctx, a);
        return a->promise;
      },
      // The phases look at the flag per file and per packet.
      [=](stop_job_atom, const std::string& id) {
        if (auto it = self->state.active.find(id); it != self->state.active.end())
          it->second->stop = true;
      },
  };
}

} // namespace

// ---- credentials ---------------------------------------------------------------------------

std::string seal_credentials(const std::string& key, const std::string& username,
                             const std::string& password) {
  crypto::init();
  auto plain = json{{"u", username}, {"p", password}}.dump();
  std::string nonce = crypto::random_bytes(crypto_secretbox_NONCEBYTES);
  std::string sealed(crypto_secretbox_MACBYTES + plain.size(), '\0');
  crypto_secretbox_easy(reinterpret_cast<unsigned char*>(sealed.data()),
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
                        reinterpret_cast<const unsigned char*>(nonce.data()),
                        reinterpret_cast<const unsigned char*>(key.data()));
  sodium_memzero(plain.data(), plain.size());
  return crypto::base64url_encode(nonce + sealed);
}

std::optional<std::pair<std::string, std::string>> open_credentials(const std::string& key,
                                                                    const std::string& text) {
  crypto::init();
  auto raw = crypto::base64url_decode(text);
  if (!raw || key.size() != crypto_secretbox_KEYBYTES ||
      raw->size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
    return std::nullopt;
  const auto* nonce = reinterpret_cast<const unsigned char*>(raw->data());
  const auto* box = nonce + crypto_secretbox_NONCEBYTES;
  auto box_size = raw->size() - crypto_secretbox_NONCEBYTES;
  std::string plain(box_size - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()), box, box_size,
                                 nonce, reinterpret_cast<const unsigned char*>(key.data())) != 0)
    return std::nullopt;
  auto j = json::parse(plain, nullptr, false);
  sodium_memzero(plain.data(), plain.size());
  if (!j.is_object() || !j.contains("u") || !j["u"].is_string() || !j.contains("p") ||
      !j["p"].is_string())
    return std::nullopt;
  return std::pair{j["u"].get<std::string>(), j["p"].get<std::string>()};
}

std::string resolve_credentials_key(const config::settings& s, pqxx::connection& conn) {
  const auto& configured = s.repository_analyzer.credentials_key;
  if (!configured.empty()) {
    auto key = crypto::base64_decode(configured);
    if (!key || key->size() != crypto_secretbox_KEYBYTES)
      throw std::runtime_error(
          "repository_analyzer.credentials_key must be the base64 of 32 bytes");
    return *key;
  }
  pqxx::work tx{conn};
  tx.exec_params("INSERT INTO node_settings (key, value) VALUES ('repository_credentials_key', $1)"
                 " ON CONFLICT (key) DO NOTHING",
                 crypto::base64url_encode(crypto::random_bytes(crypto_secretbox_KEYBYTES)));
  auto stored = crypto::base64url_decode(
      tx.exec("SELECT value FROM node_settings WHERE key = 'repository_credentials_key'")[0][0]
          .c_str());
  tx.commit();
  if (!stored || stored->size() != crypto_secretbox_KEYBYTES)
    throw std::runtime_error("the stored repository credentials key is damaged");
  return *stored;
}

// ---- options and spawning -------------------------------------------------------------------

projects_options projects_options_from(const config::settings& s, std::string credentials_key) {
  return {s.jobs.max_attempts, split_roots(s.repository_analyzer.allowed_local_roots),
          std::move(credentials_key)};
}

analyzer_options analyzer_options_from(const config::settings& s, std::string credentials_key) {
  analyzer_options o;
  o.scratch_root = fs::path{s.database.data_dir} / "analyzer";
  o.allowed_roots = split_roots(s.repository_analyzer.allowed_local_roots);
  o.credentials_key = std::move(credentials_key);
  o.limits.max_files = s.repository_analyzer.max_files;
  o.limits.max_file_bytes = s.repository_analyzer.max_file_bytes;
  o.max_bytes = s.repository_analyzer.max_bytes;
  o.history_commits = s.repository_analyzer.history_commits;
  return o;
}

api_actor spawn_projects_api(caf::actor_system& sys, store_actor store, projects_options opts) {
  return sys.spawn(api, std::move(store), std::move(opts));
}

job_executor_actor spawn_analyzer(caf::actor_system& sys, store_actor store,
                                  analyzer_options opts) {
  auto ctx = std::make_shared<const context>(context{std::move(store), std::move(opts)});
  return sys.spawn(executor, ctx);
}

void sweep_scratch(const fs::path& scratch_root) {
  std::error_code ec;
  if (!fs::exists(scratch_root, ec))
    return;
  for (const auto& entry : fs::directory_iterator{scratch_root, ec})
    remove_scratch(entry.path());
}

} // namespace troupe::analyzer
