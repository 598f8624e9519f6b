#include "auth/credential_cache.hpp"

#include "runtime/crypto.hpp"

#include <mutex>

namespace troupe::auth {

credential_cache::verdict credential_cache::lookup(const std::string& prefix,
                                                   const std::string& key_hash,
                                                   principal& who) const {
  std::shared_lock lock{mutex_};
  auto it = entries_.find(prefix);
  if (it == entries_.end() || it->second.fresh_until <= std::chrono::steady_clock::now())
    return verdict::miss;
  if (!crypto::equal_constant_time(it->second.key_hash, key_hash))
    return verdict::mismatch;
  who = it->second.who;
  return verdict::hit;
}

void credential_cache::store(const std::string& prefix, const std::string& key_hash,
                             const principal& who) {
  std::unique_lock lock{mutex_};
  entries_[prefix] = {who, key_hash, std::chrono::steady_clock::now() + ttl_};
}

void credential_cache::invalidate_user(const std::string& user_id) {
  std::unique_lock lock{mutex_};
  for (auto it = entries_.begin(); it != entries_.end();)
    it = it->second.who.user_id == user_id ? entries_.erase(it) : std::next(it);
}

void credential_cache::clear() {
  std::unique_lock lock{mutex_};
  entries_.clear();
}

} // namespace troupe::auth
