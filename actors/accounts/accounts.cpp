#include "actors/accounts/accounts.hpp"

#include "gateway/auth.hpp"
#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/handlers.hpp"
#include "runtime/input.hpp"
#include "runtime/store.hpp"

#include <chrono>
#include <pqxx/pqxx>

namespace troupe::accounts {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_email_bytes = 254;
constexpr std::size_t max_password_bytes = 1024;
constexpr std::size_t max_key_name_bytes = 200;

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
    " 'expires_at', rfc3339(expires_at), 'revoked_at', rfc3339(revoked_at))::text";

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
  gateway::jwt_claims claims;
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
  return {{"access_token", gateway::jwt_sign(claims, opts.jwt_secret)},
          {"refresh_token", refresh},
          {"token_type", "bearer"},
          {"expires_in", opts.access_token_ttl_s}};
}

// ---- handlers -----------------------------------------------------------


api_response register_user(pqxx::connection& conn, const api_request& req,
                           const accounts_options& opts) {
  if (!opts.allow_registration)
    throw not_found("registration is disabled on this server; route");
  auto body = input::object_body(req);
  input::only_fields(body, {"email", "password"});
  auto email = *input::string_field(body, "email", {1, max_email_bytes}, true);
  auto password = *input::string_field(body, "password", {8, max_password_bytes}, true);
  return json_response(201, create_user(conn, email, password));
}

api_response login(pqxx::connection& conn, const api_request& req, const accounts_options& opts) {
  auto body = input::object_body(req);
  input::only_fields(body, {"email", "password"});
  auto email = *input::string_field(body, "email", {1, max_email_bytes}, true);
  auto password = *input::string_field(body, "password", {1, max_password_bytes}, true);
  pqxx::work tx{conn};
  auto rows = tx.exec_prepared("troupe.user_login", email);
  bool ok = !rows.empty() && crypto::verify_password(rows[0][2].c_str(), password);
  if (rows.empty())
    crypto::verify_password(dummy_hash(), password);
  if (!ok)
    throw unauthenticated("invalid email or password");
  auto tokens = issue_tokens(tx, rows[0][0].c_str(), rows[0][1].c_str(), opts, std::nullopt);
  tx.commit();
  return json_response(200, tokens);
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
    if (!gateway::valid_scope(s))
      throw invalid_argument("scopes", "unknown scope '" + s + "'");
    // A key can never grant more than the credential that creates it.
    bool covered = s == "*"              ? gateway::scope_allows(caller.scopes, "*") &&
                                               std::find(caller.scopes.begin(),
                                                         caller.scopes.end(),
                                                         "*") != caller.scopes.end()
                   : s.ends_with(":*")  ? std::any_of(caller.scopes.begin(), caller.scopes.end(),
                                                      [&](const std::string& g) {
                                                        return g == "*" || g == s;
                                                      })
                                        : gateway::scope_allows(caller.scopes, s);
    if (!covered)
      throw api_error(403, "permission_denied",
                      "a key cannot be given scope '" + s + "' that the caller lacks", "scopes");
  }
  return scopes;
}

api_response create_key(pqxx::connection& conn, const api_request& req, const accounts_options&) {
  auto body = input::object_body(req);
  input::only_fields(body, {"name", "scopes", "expires_in_days"});
  auto name = *input::string_field(body, "name", {1, max_key_name_bytes}, true);
  auto scopes = requested_scopes(body, req.caller);
  auto days = input::int_field(body, "expires_in_days", 1, 3650, false);
  std::optional<int> expires;
  if (days)
    expires = static_cast<int>(*days);
  return json_response(201, create_api_key(conn, req.caller.user_id, name, scopes, expires));
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
  tx.commit();
  return no_content();
}

const runtime::handler_table<accounts_options>& handlers() {
  static const runtime::handler_table<accounts_options> table = {
      {"POST /v1/auth/register", register_user},
      {"POST /v1/auth/login", login},
      {"POST /v1/auth/refresh", refresh},
      {"GET /v1/auth/me", me},
      {"POST /v1/auth/api-keys", create_key},
      {"GET /v1/auth/api-keys", list_keys},
      {"DELETE /v1/auth/api-keys/{id}", revoke_key},
  };
  return table;
}

} // namespace

nlohmann::json create_user(pqxx::connection& conn, const std::string& email,
                           const std::string& password, bool is_admin) {
  check_email(email);
  check_password(password);
  auto hash = crypto::hash_password(password);
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
                              std::optional<int> expires_in_days) {
  for (const auto& s : scopes)
    if (!gateway::valid_scope(s))
      throw invalid_argument("scopes", "unknown scope '" + s + "'");
  auto key = gateway::generate_api_key();
  pqxx::work tx{conn};
  auto rows = tx.exec_params(
      std::string{"INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, expires_at)"
                  " VALUES ($1, $2, $3, $4, $5,"
                  "  ARRAY(SELECT jsonb_array_elements_text($6::jsonb)),"
                  "  CASE WHEN $7::int IS NULL THEN NULL"
                  "       ELSE now() + make_interval(days => $7::int) END)"
                  " RETURNING "} +
          key_columns,
      crypto::uuid_v7(), user_id, name, key.prefix, pqxx::binarystring(crypto::sha256(key.key)),
      json(scopes).dump(), expires_in_days);
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
      "UPDATE api_keys SET revoked_at = now() WHERE prefix = $1 AND revoked_at IS NULL RETURNING id",
      prefix);
  tx.commit();
  return !rows.empty();
}

long long user_count(pqxx::connection& conn) {
  pqxx::read_transaction tx{conn};
  return tx.exec("SELECT count(*) FROM users")[0][0].as<long long>();
}

namespace {

struct accounts_state {
  static inline const char* name = "troupe.accounts";
};

api_actor::behavior_type accounts_actor(api_actor::stateful_pointer<accounts_state> self,
                                        store_actor store,
                                        std::shared_ptr<gateway::credential_cache> cache,
                                        accounts_options opts) {
  return {
      [=](api_request& req) -> caf::result<api_response> {
        auto id = req.request_id;
        bool revoking = req.method == "DELETE";
        auto user = req.caller.user_id;
        auto task = runtime::handler_task(handlers(), std::move(req), opts);
        if (!revoking)
          return self->delegate(store, std::move(task));
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
                         std::shared_ptr<gateway::credential_cache> cache, accounts_options opts) {
  dummy_hash();
  return sys.spawn(accounts_actor, std::move(store), std::move(cache), std::move(opts));
}

} // namespace troupe::accounts
