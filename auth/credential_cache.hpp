// Checked API keys, shared between the io threads (which read it, so a cached
// key costs no actor round trip) and the credential verifier (which fills it
// after a database lookup and empties it on revocation). Entries live for
// auth.cache_ttl; a stale entry is a miss.
#pragma once

#include "messages/api.hpp"

#include <chrono>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace troupe::auth {

class credential_cache {
public:
  explicit credential_cache(std::chrono::milliseconds ttl) : ttl_(ttl) {}

  enum class verdict { hit, miss, mismatch };

  // Looks `key` up by its prefix; `hit` fills `who`. `mismatch` means a fresh
  // entry exists for the prefix but the key is not the one it holds.
  verdict lookup(const std::string& prefix, const std::string& key_hash, principal& who) const;

  void store(const std::string& prefix, const std::string& key_hash, const principal& who);

  // Drops every entry of the user (a key of theirs was revoked).
  void invalidate_user(const std::string& user_id);

  // Drops every entry (revocations may have been missed).
  void clear();

private:
  struct entry {
    principal who;
    std::string key_hash;
    std::chrono::steady_clock::time_point fresh_until;
  };
  std::chrono::milliseconds ttl_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
};

} // namespace troupe::auth
