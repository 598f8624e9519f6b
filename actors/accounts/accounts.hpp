// Accounts: users, logins with rotating refresh tokens, and API keys.
//
// The accounts actor answers the /v1/auth routes. The functions below are the
// domain operations; the HTTP handlers and the `troupe admin` commands share
// them, so a key made on the command line is the same as one made over HTTP.
#pragma once

#include "messages/api.hpp"
#include "auth/credential_cache.hpp"
#include "runtime/store.hpp"
#include "runtime/password_hasher.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace troupe::accounts {

// From config (auth.*), where the defaults and their reasons live;
// app/node.cpp fills it.
struct accounts_options {
  bool allow_registration = false;
  std::string jwt_secret;
  int access_token_ttl_s = 0;
  int refresh_token_ttl_s = 0;
  int login_attempts_per_email = 0;   // sign-ins per email per sliding minute
  int login_attempts_per_address = 0; // sign-ins, registrations and refreshes per client address
  int requests_per_minute = 0;        // the server's limit: a key created over the API stays within it
};

// Registers the actor's prepared statements (call before spawn_store).
void register_statements();

// Spawns the accounts actor. When a key is revoked it empties the user's
// entries of `cache` before it answers, so the key is refused from then on.
// Passwords are hashed and checked on `hasher`, never in a store worker;
// sign-in, registration and refresh attempts are limited per client address
// and sign-ins also per email (429 with Retry-After), before any hashing.
api_actor spawn_accounts(caf::actor_system& sys, store_actor store,
                         runtime::password_hasher_actor hasher,
                         std::shared_ptr<auth::credential_cache> cache, accounts_options opts);

// Creates a user; 400 for a bad email or password, 409 for a taken email.
// Returns the user as the API shows it.
nlohmann::json create_user(pqxx::connection& conn, const std::string& email,
                           const std::string& password, bool is_admin = false);

// Inserts a user whose password is already hashed (409 for a taken email).
nlohmann::json insert_user(pqxx::connection& conn, const std::string& email,
                           const std::string& password_hash, bool is_admin = false);

// The id of the user with this email (case-insensitive).
std::optional<std::string> find_user(pqxx::connection& conn, const std::string& email);

// Creates an API key; the result includes `key`, shown only here.
// `rate_limit_per_minute`: the key's own request limit (none: the server's).
nlohmann::json create_api_key(pqxx::connection& conn, const std::string& user_id,
                              const std::string& name, const std::vector<std::string>& scopes,
                              std::optional<int> expires_in_days,
                              std::optional<int> rate_limit_per_minute = std::nullopt);

// Revokes the key with this prefix; false if there is no such active key.
bool revoke_api_key(pqxx::connection& conn, const std::string& prefix);

// Number of users (the first start creates an admin when there are none).
long long user_count(pqxx::connection& conn);

} // namespace troupe::accounts
