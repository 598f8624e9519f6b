// Password hashing (argon2id, ~64 MiB and tens of milliseconds per call) on
// a bounded pool of its own, so a flood of logins can neither starve the
// store's database work nor CAF's scheduler, nor hold more than
// `threads` × 64 MiB of hashing memory.
//
//   accounts ──password_job──► hasher ──(idle worker)──► detached worker thread
//                               │ all busy: waits in a queue of at most `max_queue`
//                               └ queue full: errc::unavailable at once (answered 503)
//
// Jobs run in arrival order. Node-local: a job carries a password and never
// crosses nodes.
#pragma once

#include <caf/all.hpp>
#include <string>

namespace troupe::runtime {

struct password_job {
  enum class kind { hash, verify } op = kind::hash;
  std::string password;
  std::string phc_hash; // verify: the stored hash
};

struct password_result {
  std::string phc_hash; // hash: the new hash
  bool matches = false; // verify: whether the password matches
};

using password_hasher_actor =
    caf::typed_actor<caf::replies_to<password_job>::with<password_result>>;

struct password_hasher_options {
  int threads = 1;     // hashes computed at once
  int max_queue = 64;  // jobs waiting for a thread; beyond → errc::unavailable
};

password_hasher_actor spawn_password_hasher(caf::actor_system& sys, password_hasher_options opts);

} // namespace troupe::runtime

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::runtime::password_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::runtime::password_result)
