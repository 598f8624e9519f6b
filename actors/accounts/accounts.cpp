#include "actors/accounts/accounts.hpp"

#include "auth/credentials.hpp"
#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/handlers.hpp"
#include "messages/error_code.hpp"
#include "runtime/input.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"
#include "runtime/outbox.hpp"
#include "runtime/rate_limiter.hpp"
#include "runtime/store.hpp"
#include "text/ascii.hpp"

#include <algorithm>
#include <chrono>
#include <pqxx/pqxx>

namespace troupe::accounts {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_email_bytes = 254;
constexpr std::size_t max_password_bytes = 1024;
constexpr std::size_t max_key_name_chars = 200;

// Hashing a throwaway password on unknown emails keeps login timing the same
// whether or not the account exists.
const std::string& dummy_hash() {
  static const std::string h = crypto::hash_password("troupe-timing-equaliser");
  return h;
}

const char* user_columns =
    "json_build_object('id', id, 'email', email, 'created_at', rfc3339(created_at))::text";

const char* key_columns =
    "json_build_object('id', id, 'name', name, 'prefix', prefix, 'scopes', scopes,"
    " 'created_at', rfc3339(created_at), 'last_used_at', rfc3339(last_used_at),"
    " 'expires_at', rfc3339(expires_at), 'revoked_at', rfc3339(revoked_at),"
    " 'rate_limit_per_minute', rate_limit_per_minute)::text";

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void check_email(const std::string& email) {
  auto at = email.find('@');
  bool ok = at != std::string::npos && at > 0 && at + 1 < email.size() &&
            email.find('@', at + 1) == std::string::npos &&
            email.find_first_of(" \t\r\n") == std::string::npos;
  if (!ok)
    throw invalid_argument("email", "email must be an address like name@example.com");
}

void check_password(const std::string& password) {
  if (password.size() < 8)
    throw invalid_argument("password", "password must be at least 8 characters");
}

json issue_tokens(pqxx::work& tx, const std::string& user_id, const std::string& email,
                  const accounts_options& opts, std::optional<std::string> replacing) {
  auth::jwt_claims claims;
  claims.subject = user_id;
  claims.email = email;
  claims.issued_at = unix_now();
  claims.expires_at = claims.issued_at + opts.access_token_ttl_s;
  auto refresh = crypto::base64url_encode(crypto::random_bytes(32));
  auto refresh_id = crypto::uuid_v7();
  tx.exec_params("INSERT INTO refresh_tokens (id, user_id, token_hash, expires_at)"
                 " VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
                 refresh_id, user_id, pqxx::binarystring(crypto::sha256(refresh)),
                 opts.refresh_token_ttl_s);
  if (replacing)
    tx.exec_params("UPDATE refresh_tokens SET revoked_at = now(), replaced_by = $2 WHERE id = $1",
                   *replacing, refresh_id);
  return {{"access_token", auth::jwt_sign(claims, opts.jwt_secret)},
          {"refresh_token", refresh},
          {"token_type", "bearer"},
          {"expires_in", opts.access_token_ttl_s}};
}

// ---- handlers -----------------------------------------------------------


struct credentials {
  std::string email;
  std::string password;
};

// The body of register and login, read before anything is counted or hashed.
credentials read_credentials(const api_request& req, std::size_t min_password) {
  auto body = input::object_body(req);
  input::only_fields(body, {"email", "password"});
  credentials c;
  c.email = *input::string_field(body, "email", {1, max_email_bytes}, true);
  c.password = *input::string_field(body, "password", {min_password, max_password_bytes}, true);
  return c;
}

// Runs in a store worker: the user a login names, if any.
struct login_row {
  std::string id, email, password_hash;
};

std::optional<login_row> find_login(pqxx::connection& conn, const std::string& email) {
  pqxx::read_transaction tx{conn};
  auto rows = tx.exec_prepared("troupe.user_login", email);
  if (rows.empty())
    return std::nullopt;
  return login_row{rows[0][0].c_str(), rows[0][1].c_str(), rows[0][2].c_str()};
}

json sign_in(pqxx::connection& conn, const login_row& who, const accounts_options& opts) {
  pqxx::work tx{conn};
  auto tokens = issue_tokens(tx, who.id, who.email, opts, std::nullopt);
  tx.commit();
  return tokens;
}

api_response refresh(pqxx::connection& conn, const api_request& req,
                     const accounts_options& opts) {
  auto body = input::object_body(req);
  input::only_fields(body, {"refresh_token"});
  auto token = *input::string_field(body, "refresh_token", {1, 512}, true);
  pqxx::work tx{conn};
  auto rows = tx.exec_params(
      "SELECT t.id, t.user_id, u.email, t.revoked_at IS NOT NULL, t.expires_at <= now()"
      " FROM refresh_tokens t JOIN users u ON u.id = t.user_id"
      " WHERE t.token_hash = $1 AND u.is_active FOR UPDATE OF t",
      pqxx::binarystring(crypto::sha256(token)));
  if (rows.empty())
    throw unauthenticated("unknown refresh token");
  if (rows[0][3].as<bool>()) {
    // A rotated token used again means it leaked: end every session of the user.
    tx.exec_params("UPDATE refresh_tokens SET revoked_at = now()"
                   " WHERE user_id = $1 AND revoked_at IS NULL",
                   rows[0][1].c_str());
    tx.commit();
    throw unauthenticated("refresh token was already used; sign in again");
  }
  if (rows[0][4].as<bool>())
    throw unauthenticated("refresh token expired");
  auto tokens = issue_tokens(tx, rows[0][1].c_str(), rows[0][2].c_str(), opts,
                             std::string{rows[0][0].c_str()});
  tx.commit();
  return json_response(200, tokens);
}

api_response me(pqxx::connection& conn, const api_request& req, const accounts_options&) {
  pqxx::read_transaction tx{conn};
  auto rows = tx.exec_params(std::string{"SELECT "} + user_columns + " FROM users WHERE id = $1",
                             req.caller.user_id);
  if (rows.empty())
    throw unauthenticated("the user of this credential no longer exists");
  return json_response(200, json::parse(rows[0][0].c_str()));
}

std::vector<std::string> requested_scopes(const json& body, const principal& caller) {
  auto scopes = input::string_list_field(body, "scopes", 32, 64).value_or(
      std::vector<std::string>{"*"});
  if (scopes.empty())
    scopes = {"*"};
  for (const auto& s : scopes) {
    if (!auth::valid_scope(s))
      throw invalid_argument("scopes", "unknown scope '" + s + "'");
    // A key can never grant more than the credential that creates it.
    bool covered = s == "*"              ? auth::scope_allows(caller.scopes, "*") &&
                                               std::find(caller.scopes.begin(),
                                                         caller.scopes.end(),
                                                         "*") != caller.scopes.end()
                   : s.ends_with(":*")  ? std::any_of(caller.scopes.begin(), caller.scopes.end(),
                                                      [&](const std::string& g) {
                                                        return g == "*" || g == s;
                                                      })
                                        : auth::scope_allows(caller.scopes, s);
    if (!covered)
      throw api_error(403, "permission_denied",
                      "a key cannot be given scope '" + s + "' that the caller lacks", "scopes");
  }
  return scopes;
}

api_response create_key(pqxx::connection& conn, const api_request& req,
                        const accounts_options& opts) {
  auto body = input::object_body(req);
  input::only_fields(body, {"name", "scopes", "expires_in_days", "rate_limit_per_minute"});
  auto name = *input::string_field(body, "name", {1, 4 * max_key_name_chars, max_key_name_chars}, true);
  auto scopes = requested_scopes(body, req.caller);
  auto days = input::int_field(body, "expires_in_days", 1, 3650, false);
  std::optional<int> expires;
  if (days)
    expires = static_cast<int>(*days);
  // A key may be given a lower limit than the server's, never a higher one
  // (an operator can: troupe admin create-api-key --rate-limit).
  auto ceiling = opts.requests_per_minute > 0 ? opts.requests_per_minute : 10000000;
  auto own = input::int_field(body, "rate_limit_per_minute", 1, ceiling, false);
  std::optional<int> limit;
  if (own)
    limit = static_cast<int>(*own);
  return json_response(201, create_api_key(conn, req.caller.user_id, name, scopes, expires, limit));
}

api_response list_keys(pqxx::connection& conn, const api_request& req, const accounts_options&) {
  pqxx::read_transaction tx{conn};
  auto rows = tx.exec_params(std::string{"SELECT "} + key_columns +
                                 " FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id",
                             req.caller.user_id);
  json items = json::array();
  for (const auto& row : rows)
    items.push_back(json::parse(row[0].c_str()));
  return json_response(200, {{"items", items}});
}

api_response revoke_key(pqxx::connection& conn, const api_request& req, const accounts_options&) {
  auto id = input::uuid_param(req, 0, "id");
  pqxx::work tx{conn};
  auto rows = tx.exec_params("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
                             " WHERE id = $1 AND user_id = $2 RETURNING id",
                             id, req.caller.user_id);
  if (rows.empty())
    throw not_found("API key");
  runtime::notify_revoked(tx, req.caller.user_id); // every gateway's cache, at commit
  tx.commit();
  return no_content();
}

const runtime::handler_table<accounts_options>& handlers() {
  static const runtime::handler_table<accounts_options> table = {
      {endpoint::refresh, refresh},
      {endpoint::me, me},
      {endpoint::create_api_key, create_key},
      {endpoint::list_api_keys, list_keys},
      {endpoint::revoke_api_key, revoke_key},
  };
  return table;
}

} // namespace

nlohmann::json create_user(pqxx::connection& conn, const std::string& email,
                           const std::string& password, bool is_admin) {
  check_email(email);
  check_password(password);
  return insert_user(conn, email, crypto::hash_password(password), is_admin);
}

nlohmann::json insert_user(pqxx::connection& conn, const std::string& email,
                           const std::string& password_hash, bool is_admin) {
  const auto& hash = password_hash;
  pqxx::work tx{conn};
  auto rows = tx.exec_params(std::string{"INSERT INTO users (id, email, password_hash, is_admin)"
                                         " VALUES ($1, $2, $3, $4)"
                                         " ON CONFLICT ((lower(email))) DO NOTHING RETURNING "} +
                                 user_columns,
                             crypto::uuid_v7(), email, hash, is_admin);
  if (rows.empty())
    throw conflict("a user with this email already exists");
  tx.commit();
  return json::parse(rows[0][0].c_str());
}

std::optional<std::string> find_user(pqxx::connection& conn, const std::string& email) {
  pqxx::read_transaction tx{conn};
  auto rows = tx.exec_params("SELECT id FROM users WHERE lower(email) = lower($1)", email);
  if (rows.empty())
    return std::nullopt;
  return std::string{rows[0][0].c_str()};
}

nlohmann::json create_api_key(pqxx::connection& conn, const std::string& user_id,
                              const std::string& name, const std::vector<std::string>& scopes,
                              std::optional<int> expires_in_days,
                              std::optional<int> rate_limit_per_minute) {
  for (const auto& s : scopes)
    if (!auth::valid_scope(s))
      throw invalid_argument("scopes", "unknown scope '" + s + "'");
  auto key = auth::generate_api_key();
  pqxx::work tx{conn};
  auto rows = tx.exec_params(
      std::string{"INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, expires_at,"
                  " rate_limit_per_minute) VALUES ($1, $2, $3, $4, $5,"
                  "  ARRAY(SELECT jsonb_array_elements_text($6::jsonb)),"
                  "  CASE WHEN $7::int IS NULL THEN NULL"
                  "       ELSE now() + make_interval(days => $7::int) END, $8)"
                  " RETURNING "} +
          key_columns,
      crypto::uuid_v7(), user_id, name, key.prefix, pqxx::binarystring(crypto::sha256(key.key)),
      json(scopes).dump(), expires_in_days, rate_limit_per_minute);
  tx.commit();
  auto out = json::parse(rows[0][0].c_str());
  out["key"] = key.key;
  out.erase("last_used_at");
  out.erase("revoked_at");
  return out;
}

bool revoke_api_key(pqxx::connection& conn, const std::string& prefix) {
  pqxx::work tx{conn};
  auto rows = tx.exec_params(
      "UPDATE api_keys SET revoked_at = now() WHERE prefix = $1 AND revoked_at IS NULL"
      " RETURNING user_id",
      prefix);
  if (!rows.empty())
    runtime::notify_revoked(tx, rows[0][0].c_str());
  tx.commit();
  return !rows.empty();
}

long long user_count(pqxx::connection& conn) {
  pqxx::read_transaction tx{conn};
  return tx.exec("SELECT count(*) FROM users")[0][0].as<long long>();
}

namespace {

// The sign-in limits (api.md, Rate limits): attempts per email and per
// client address in a sliding minute. Each table tracks at most this many
// keys (a few MB), forgetting the least recently seen beyond.
constexpr std::size_t max_limited_keys = 100000;
constexpr std::chrono::seconds limit_window{60};

struct accounts_state {
  std::unique_ptr<runtime::sliding_window_limiter> by_email;
  std::unique_ptr<runtime::sliding_window_limiter> by_address;
  static inline const char* name = "troupe.accounts";
};

using accounts_pointer = api_actor::stateful_pointer<accounts_state>;

api_response too_many_attempts(const runtime::sliding_window_limiter::decision& d,
                               std::string_view key, const std::string& request_id) {
  metrics::auth_rate_limited(key);
  auto r = error_response(429, "rate_limited",
                          std::string{"too many sign-in attempts for this "} +
                              (key == "email" ? "email" : "client address") + "; retry in " +
                              std::to_string(d.retry_after_s) + " s",
                          request_id);
  r.headers["Retry-After"] = std::to_string(d.retry_after_s);
  r.headers["X-RateLimit-Limit"] = std::to_string(d.limit);
  r.headers["X-RateLimit-Remaining"] = "0";
  r.headers["X-RateLimit-Reset"] = std::to_string(d.reset_s);
  return r;
}

// Counts an attempt from the request's client address (and for `email`,
// when given); the refusal to answer when either is over its limit.
std::optional<api_response> count_attempt(accounts_pointer self, const api_request& req,
                                          const std::string* email) {
  auto now = runtime::sliding_window_limiter::clock::now();
  auto by_address = self->state.by_address->hit(req.client_address, now);
  if (!by_address.allowed)
    return too_many_attempts(by_address, "address", req.request_id);
  if (email) {
    auto by_email = self->state.by_email->hit(text::lower(*email), now);
    if (!by_email.allowed)
      return too_many_attempts(by_email, "email", req.request_id);
  }
  return std::nullopt;
}

// The answer to a failed step (the store, the hasher), logged when it is a bug.
api_response failure(const caf::error& e, const std::string& request_id) {
  if (code_of(e) == errc::internal)
    log::error("sign-in step failed", {{"request_id", request_id}, {"error", caf::to_string(e)}});
  return error_response(e, request_id);
}

// Login: the user is looked up in the store, the password checked on the
// hasher (a throwaway hash when there is no such user, so both take as
// long), and the tokens issued in the store again.
caf::result<api_response> login(accounts_pointer self, const store_actor& store,
                                const runtime::password_hasher_actor& hasher,
                                const accounts_options& opts, const api_request& req) {
  auto id = req.request_id;
  auto c = read_credentials(req, 1);
  if (auto refusal = count_attempt(self, req, &c.email))
    return *refusal;
  auto promise = self->make_response_promise<api_response>();
  auto failed = [=](caf::error& e) mutable { promise.deliver(failure(e, id)); };
  auto issue = [=](login_row who) mutable {
    runtime::store_call(
        self, store, id, [who, opts](pqxx::connection& conn) { return sign_in(conn, who, opts); },
        [=](json tokens) mutable { promise.deliver(json_response(200, tokens)); }, failed);
  };
  auto check = [=](std::optional<login_row> found) mutable {
    runtime::password_job job{runtime::password_job::kind::verify, c.password,
                              found ? found->password_hash : dummy_hash()};
    self->request(hasher, caf::infinite, std::move(job))
        .then(
            [=](runtime::password_result& checked) mutable {
              if (found && checked.matches)
                return issue(*found);
              promise.deliver(
                  error_response(401, "unauthenticated", "invalid email or password", id));
            },
            failed);
  };
  auto email = c.email;
  runtime::store_call(
      self, store, id, [email](pqxx::connection& conn) { return find_login(conn, email); }, check,
      failed);
  return promise;
}

// Registration: validated here, hashed on the hasher, inserted by the store.
caf::result<api_response> register_user(accounts_pointer self, const store_actor& store,
                                        const runtime::password_hasher_actor& hasher,
                                        const accounts_options& opts, const api_request& req) {
  if (!opts.allow_registration)
    throw not_found("registration is disabled on this server; route");
  auto id = req.request_id;
  auto c = read_credentials(req, 8);
  check_email(c.email);
  check_password(c.password);
  if (auto refusal = count_attempt(self, req, nullptr))
    return *refusal;
  auto promise = self->make_response_promise<api_response>();
  auto failed = [=](caf::error& e) mutable { promise.deliver(failure(e, id)); };
  self->request(hasher, caf::infinite,
                runtime::password_job{runtime::password_job::kind::hash, c.password, {}})
      .then(
          [=](runtime::password_result& hashed) mutable {
            auto email = c.email;
            auto hash = hashed.phc_hash;
            runtime::store_call(
                self, store, id,
                [email, hash](pqxx::connection& conn) { return insert_user(conn, email, hash); },
                [=](json user) mutable { promise.deliver(json_response(201, user)); }, failed);
          },
          failed);
  return promise;
}

caf::result<api_response> revoke(accounts_pointer self, const store_actor& store,
                                 const std::shared_ptr<auth::credential_cache>& cache,
                                 db_task task, const std::string& user) {
  auto id = task.request_id;
  auto promise = self->make_response_promise<api_response>();
  self->request(store, caf::infinite, std::move(task))
      .then(
          [=](api_response& r) mutable {
            if (r.status == 204)
              cache->invalidate_user(user);
            promise.deliver(std::move(r));
          },
          [=](caf::error&) mutable {
            promise.deliver(error_response(500, "internal", "internal error", id));
          });
  return promise;
}

api_actor::behavior_type accounts_actor(accounts_pointer self, store_actor store,
                                        runtime::password_hasher_actor hasher,
                                        std::shared_ptr<auth::credential_cache> cache,
                                        accounts_options opts) {
  self->state.by_email = std::make_unique<runtime::sliding_window_limiter>(
      opts.login_attempts_per_email, limit_window, max_limited_keys);
  self->state.by_address = std::make_unique<runtime::sliding_window_limiter>(
      opts.login_attempts_per_address, limit_window, max_limited_keys);
  return {
      [=](api_request& req) -> caf::result<api_response> {
        try {
          if (req.op == endpoint::login)
            return login(self, store, hasher, opts, req);
          if (req.op == endpoint::register_user)
            return register_user(self, store, hasher, opts, req);
          if (req.op == endpoint::refresh)
            if (auto refusal = count_attempt(self, req, nullptr))
              return *refusal;
        } catch (const api_error& e) {
          return error_response(e, req.request_id);
        }
        bool revoking = req.op == endpoint::revoke_api_key;
        auto user = req.caller.user_id;
        auto task = runtime::handler_task(handlers(), std::move(req), opts);
        if (revoking)
          return revoke(self, store, cache, std::move(task), user);
        return self->delegate(store, std::move(task));
      },
  };
}

} // namespace

void register_statements() {
  runtime::register_statement(
      "troupe.user_login",
      "SELECT id, email, password_hash FROM users WHERE lower(email) = lower($1) AND is_active");
}

api_actor spawn_accounts(caf::actor_system& sys, store_actor store,
                         runtime::password_hasher_actor hasher,
                         std::shared_ptr<auth::credential_cache> cache, accounts_options opts) {
  dummy_hash();
  return sys.spawn(accounts_actor, std::move(store), std::move(hasher), std::move(cache),
                   std::move(opts));
}

} // namespace troupe::accounts
