// Credential logic without actors or database: JWT access tokens (HS256),
// API key format, and scope matching.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::auth {

// ---- JWT ----------------------------------------------------------------

struct jwt_claims {
  std::string subject; // user id
  std::string email;
  std::int64_t issued_at = 0;  // seconds since the epoch
  std::int64_t expires_at = 0; // seconds since the epoch
};

std::string jwt_sign(const jwt_claims& claims, std::string_view secret);

enum class jwt_status { ok, malformed, bad_signature, wrong_algorithm, expired };

struct jwt_result {
  jwt_status status = jwt_status::malformed;
  jwt_claims claims;
};

// Verifies an HS256 access token at time `now` (seconds since the epoch).
// Any other algorithm, including "none", is wrong_algorithm.
jwt_result jwt_verify(std::string_view token, std::string_view secret, std::int64_t now);

// ---- API keys -----------------------------------------------------------
//
// A key is "tr_" + 12 lower-case hex characters (the prefix, shown in
// listings) + "_" + 43 base64url characters (32 random bytes, the secret).
// Only the prefix and SHA-256 of the whole key are stored.

struct api_key {
  std::string prefix; // "tr_" + 12 hex
  std::string key;    // the whole key, shown once
};

api_key generate_api_key();

// The prefix of a well-formed key, or nothing for anything else.
std::optional<std::string> api_key_prefix(std::string_view key);

bool looks_like_api_key(std::string_view credential);

// ---- scopes -------------------------------------------------------------

// Every scope a route may require ("group:action").
const std::vector<std::string>& known_scopes();

// True when `granted` ("*", "group:*" or an exact scope) covers `required`.
bool scope_allows(const std::vector<std::string>& granted, std::string_view required);

// True for a scope a key may be created with: a known scope, "*" or "group:*"
// of a known group.
bool valid_scope(std::string_view scope);

} // namespace troupe::auth
