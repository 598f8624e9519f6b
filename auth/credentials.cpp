#include "auth/credentials.hpp"

#include "runtime/crypto.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace troupe::auth {
namespace {

constexpr std::string_view key_tag = "tr_";
constexpr std::size_t prefix_hex_chars = 12;
constexpr std::size_t secret_chars = 43; // base64url of 32 bytes, no padding

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool is_base64url(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '_';
}

std::string_view group_of(std::string_view scope) { return scope.substr(0, scope.find(':')); }

} // namespace

std::string jwt_sign(const jwt_claims& c, std::string_view secret) {
  static const std::string header = crypto::base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  nlohmann::json payload = {{"sub", c.subject},    {"email", c.email}, {"iat", c.issued_at},
                            {"exp", c.expires_at}, {"typ", "access"},
                            {"jti", crypto::random_hex(8)}};
  std::string signing_input = header + "." + crypto::base64url_encode(payload.dump());
  return signing_input + "." + crypto::base64url_encode(crypto::hmac_sha256(secret, signing_input));
}

jwt_result jwt_verify(std::string_view token, std::string_view secret, std::int64_t now) {
  jwt_result r;
  auto dot1 = token.find('.');
  auto dot2 = dot1 == token.npos ? token.npos : token.find('.', dot1 + 1);
  if (dot2 == token.npos || token.find('.', dot2 + 1) != token.npos)
    return r;
  auto header_raw = crypto::base64url_decode(token.substr(0, dot1));
  auto payload_raw = crypto::base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = crypto::base64url_decode(token.substr(dot2 + 1));
  if (!header_raw || !payload_raw || !signature)
    return r;
  auto header = nlohmann::json::parse(*header_raw, nullptr, false);
  auto payload = nlohmann::json::parse(*payload_raw, nullptr, false);
  if (!header.is_object() || !payload.is_object())
    return r;
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string())
    return r;
  if (*alg != "HS256") {
    r.status = jwt_status::wrong_algorithm;
    return r;
  }
  auto expected = crypto::hmac_sha256(secret, token.substr(0, dot2));
  if (!crypto::equal_constant_time(expected, *signature)) {
    r.status = jwt_status::bad_signature;
    return r;
  }
  auto sub = payload.find("sub");
  auto exp = payload.find("exp");
  auto typ = payload.find("typ");
  if (sub == payload.end() || !sub->is_string() || exp == payload.end() ||
      !exp->is_number_integer() || typ == payload.end() || *typ != "access")
    return r;
  r.claims.subject = sub->get<std::string>();
  r.claims.expires_at = exp->get<std::int64_t>();
  if (auto email = payload.find("email"); email != payload.end() && email->is_string())
    r.claims.email = email->get<std::string>();
  if (auto iat = payload.find("iat"); iat != payload.end() && iat->is_number_integer())
    r.claims.issued_at = iat->get<std::int64_t>();
  r.status = r.claims.expires_at <= now ? jwt_status::expired : jwt_status::ok;
  return r;
}

api_key generate_api_key() {
  api_key k;
  k.prefix = std::string{key_tag} + crypto::random_hex(prefix_hex_chars / 2);
  k.key = k.prefix + "_" + crypto::base64url_encode(crypto::random_bytes(32));
  return k;
}

std::optional<std::string> api_key_prefix(std::string_view key) {
  std::size_t prefix_len = key_tag.size() + prefix_hex_chars;
  if (key.size() != prefix_len + 1 + secret_chars || key.substr(0, key_tag.size()) != key_tag ||
      key[prefix_len] != '_')
    return std::nullopt;
  auto hex_part = key.substr(key_tag.size(), prefix_hex_chars);
  auto secret = key.substr(prefix_len + 1);
  if (!std::all_of(hex_part.begin(), hex_part.end(), is_lower_hex) ||
      !std::all_of(secret.begin(), secret.end(), is_base64url))
    return std::nullopt;
  return std::string{key.substr(0, prefix_len)};
}

bool looks_like_api_key(std::string_view credential) {
  return credential.substr(0, key_tag.size()) == key_tag;
}

const std::vector<std::string>& known_scopes() {
  static const std::vector<std::string> all = {
      "playbooks:read", "playbooks:write", "outcomes:write",  "evolution:read",
      "evolution:write", "jobs:read",      "jobs:write",      "critiques:read",
      "critiques:write", "projects:read",  "projects:write",  "events:read",
      "usage:read",      "keys:read",      "keys:write"};
  return all;
}

bool scope_allows(const std::vector<std::string>& granted, std::string_view required) {
  for (const auto& g : granted) {
    if (g == "*" || g == required)
      return true;
    if (g.size() > 2 && g.ends_with(":*") &&
        std::string_view{g}.substr(0, g.size() - 2) == group_of(required))
      return true;
  }
  return false;
}

bool valid_scope(std::string_view scope) {
  if (scope == "*")
    return true;
  const auto& all = known_scopes();
  if (scope.ends_with(":*"))
    return std::any_of(all.begin(), all.end(), [&](const std::string& s) {
      return group_of(s) == scope.substr(0, scope.size() - 2);
    });
  return std::find(all.begin(), all.end(), scope) != all.end();
}

} // namespace troupe::auth
