// JWT, API key format and scope matching.
#include "auth/credentials.hpp"
#include "runtime/crypto.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace troupe;
using namespace troupe::auth;

namespace {

constexpr std::int64_t now = 1'800'000'000;
const std::string secret = "0123456789abcdef0123456789abcdef";

jwt_claims claims(std::int64_t expires_at) {
  return {"0190a0b0-0000-7000-8000-000000000001", "a@example.com", now - 10, expires_at};
}

// A token with the given header and payload, signed with `key`.
std::string forge(const nlohmann::json& header, const nlohmann::json& payload,
                  const std::string& key) {
  auto input = crypto::base64url_encode(header.dump()) + "." +
               crypto::base64url_encode(payload.dump());
  return input + "." + crypto::base64url_encode(crypto::hmac_sha256(key, input));
}

} // namespace

TEST(Jwt, SignedTokenVerifies) {
  crypto::init();
  auto token = jwt_sign(claims(now + 60), secret);
  auto r = jwt_verify(token, secret, now);
  ASSERT_EQ(r.status, jwt_status::ok);
  EXPECT_EQ(r.claims.subject, "0190a0b0-0000-7000-8000-000000000001");
  EXPECT_EQ(r.claims.email, "a@example.com");
}

TEST(Jwt, ExpiredTokenIsRefused) {
  auto token = jwt_sign(claims(now - 1), secret);
  EXPECT_EQ(jwt_verify(token, secret, now).status, jwt_status::expired);
  EXPECT_EQ(jwt_verify(jwt_sign(claims(now), secret), secret, now).status, jwt_status::expired);
}

TEST(Jwt, BadSignatureIsRefused) {
  auto token = jwt_sign(claims(now + 60), secret);
  EXPECT_EQ(jwt_verify(token, "another secret of enough length!!", now).status,
            jwt_status::bad_signature);
  auto tampered = token;
  tampered[tampered.find('.') + 3] ^= 1;
  EXPECT_NE(jwt_verify(tampered, secret, now).status, jwt_status::ok);
}

TEST(Jwt, WrongAlgorithmIsRefused) {
  nlohmann::json payload = {{"sub", "u"}, {"exp", now + 60}, {"typ", "access"}};
  EXPECT_EQ(jwt_verify(forge({{"alg", "HS512"}, {"typ", "JWT"}}, payload, secret), secret, now)
                .status,
            jwt_status::wrong_algorithm);
  auto none = crypto::base64url_encode(R"({"alg":"none"})") + "." +
              crypto::base64url_encode(payload.dump()) + ".";
  EXPECT_EQ(jwt_verify(none, secret, now).status, jwt_status::wrong_algorithm);
}

TEST(Jwt, MalformedTokensAreRefused) {
  for (std::string bad : {"", ".", "..", "a.b.c", "abc", "a.b.c.d", "!!!.???.***"})
    EXPECT_EQ(jwt_verify(bad, secret, now).status, jwt_status::malformed) << bad;
  nlohmann::json refresh_typ = {{"sub", "u"}, {"exp", now + 60}, {"typ", "refresh"}};
  EXPECT_EQ(jwt_verify(forge({{"alg", "HS256"}}, refresh_typ, secret), secret, now).status,
            jwt_status::malformed);
  nlohmann::json no_exp = {{"sub", "u"}, {"typ", "access"}};
  EXPECT_EQ(jwt_verify(forge({{"alg", "HS256"}}, no_exp, secret), secret, now).status,
            jwt_status::malformed);
}

TEST(ApiKey, GeneratedKeysHaveTheirPrefix) {
  auto k = generate_api_key();
  EXPECT_TRUE(looks_like_api_key(k.key));
  ASSERT_TRUE(api_key_prefix(k.key).has_value());
  EXPECT_EQ(*api_key_prefix(k.key), k.prefix);
  EXPECT_EQ(k.prefix.size(), 15u);
  EXPECT_NE(generate_api_key().key, k.key);
}

TEST(ApiKey, MalformedKeysHaveNoPrefix) {
  auto k = generate_api_key().key;
  EXPECT_FALSE(api_key_prefix(k.substr(0, k.size() - 1)));
  EXPECT_FALSE(api_key_prefix(k + "x"));
  EXPECT_FALSE(api_key_prefix("tr_"));
  auto upper = k;
  upper[3] = 'G';
  EXPECT_FALSE(api_key_prefix(upper));
  auto bad_secret = k;
  bad_secret.back() = '!';
  EXPECT_FALSE(api_key_prefix(bad_secret));
}

TEST(Scopes, StarGrantsEverything) {
  EXPECT_TRUE(scope_allows({"*"}, "playbooks:write"));
  EXPECT_TRUE(scope_allows({"*"}, "usage:read"));
}

TEST(Scopes, GroupStarGrantsItsGroupOnly) {
  EXPECT_TRUE(scope_allows({"playbooks:*"}, "playbooks:read"));
  EXPECT_TRUE(scope_allows({"playbooks:*"}, "playbooks:write"));
  EXPECT_FALSE(scope_allows({"playbooks:*"}, "outcomes:write"));
  EXPECT_FALSE(scope_allows({"play:*"}, "playbooks:read"));
}

TEST(Scopes, ExactScopes) {
  EXPECT_TRUE(scope_allows({"jobs:read", "playbooks:read"}, "playbooks:read"));
  EXPECT_FALSE(scope_allows({"playbooks:read"}, "playbooks:write"));
  EXPECT_FALSE(scope_allows({}, "playbooks:read"));
}

TEST(Scopes, Validity) {
  EXPECT_TRUE(valid_scope("*"));
  EXPECT_TRUE(valid_scope("playbooks:*"));
  EXPECT_TRUE(valid_scope("usage:read"));
  EXPECT_TRUE(valid_scope("keys:read"));
  EXPECT_TRUE(valid_scope("keys:write"));
  EXPECT_TRUE(valid_scope("keys:*"));
  EXPECT_TRUE(scope_allows({"*"}, "keys:write"));
  EXPECT_FALSE(scope_allows({"playbooks:*"}, "keys:read"));
  EXPECT_FALSE(valid_scope("usage:write"));
  EXPECT_FALSE(valid_scope("nothing:*"));
  EXPECT_FALSE(valid_scope(""));
  EXPECT_FALSE(valid_scope(":*"));
}

TEST(Crypto, PasswordHashIsArgon2idAndVerifies) {
  crypto::init();
  auto h = crypto::hash_password("correct horse");
  EXPECT_EQ(h.rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(crypto::verify_password(h, "correct horse"));
  EXPECT_FALSE(crypto::verify_password(h, "correct horsf"));
}

TEST(Crypto, UuidV7IsTimeOrderedAndCanonical) {
  auto a = crypto::uuid_v7();
  EXPECT_TRUE(crypto::is_uuid(a));
  EXPECT_EQ(a[14], '7');
  EXPECT_FALSE(crypto::is_uuid("not-a-uuid"));
  EXPECT_FALSE(crypto::is_uuid("0190a0b0-0000-7000-8000-00000000000g"));
}
