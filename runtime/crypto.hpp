// Cryptographic primitives on libsodium: randomness, hashing, password
// hashing (argon2id), constant-time comparison, base64url and UUIDv7 ids.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace troupe::crypto {

// Initialises libsodium; safe to call many times. Throws if it cannot.
void init();

std::string random_bytes(std::size_t n);
// Lower-case hex of n random bytes (2n characters).
std::string random_hex(std::size_t n);

std::string base64url_encode(std::string_view bytes); // no padding
std::optional<std::string> base64url_decode(std::string_view text);
std::optional<std::string> base64_decode(std::string_view text); // standard alphabet, padded

std::string hex(std::string_view bytes);
std::string sha256(std::string_view data);                     // raw 32 bytes
std::string hmac_sha256(std::string_view key, std::string_view data); // raw 32 bytes

// Constant-time comparison; false when sizes differ.
bool equal_constant_time(std::string_view a, std::string_view b);

// argon2id hash in the PHC string format (includes salt and parameters).
std::string hash_password(std::string_view password);
bool verify_password(std::string_view phc_hash, std::string_view password);

// A time-ordered UUID (version 7), canonical lower-case text form.
std::string uuid_v7();
// True when `text` is a canonical UUID (8-4-4-4-12 hex digits).
bool is_uuid(std::string_view text);

} // namespace troupe::crypto
