#include "runtime/password_hasher.hpp"

#include "messages/error_code.hpp"
#include "runtime/crypto.hpp"
#include "runtime/metrics.hpp"

#include <deque>
#include <vector>

namespace troupe::runtime {
namespace {

password_hasher_actor::behavior_type worker(password_hasher_actor::pointer) {
  return {
      [](password_job& job) -> caf::result<password_result> {
        password_result r;
        try {
          if (job.op == password_job::kind::hash)
            r.phc_hash = crypto::hash_password(job.password);
          else
            r.matches = crypto::verify_password(job.phc_hash, job.password);
        } catch (const std::exception& e) {
          return make_error(errc::internal, e.what()); // out of memory for the hash
        }
        return r;
      },
  };
}

struct waiting_job {
  password_job job;
  caf::typed_response_promise<password_result> promise;
};

struct hasher_state {
  std::vector<password_hasher_actor> idle;
  std::deque<waiting_job> queue;
  ~hasher_state() { metrics::password_hash_waiting(-static_cast<int>(queue.size())); }
  static inline const char* name = "troupe.password_hasher";
};

using hasher_pointer = password_hasher_actor::stateful_pointer<hasher_state>;

// Runs `job` on an idle worker; when it answers, the worker takes the next
// waiting job or goes back to the idle list.
void run_on(hasher_pointer self, password_hasher_actor w, password_job job,
            caf::typed_response_promise<password_result> promise);

void take_next(hasher_pointer self, password_hasher_actor w) {
  auto& st = self->state;
  if (st.queue.empty())
    return st.idle.push_back(w);
  auto next = std::move(st.queue.front());
  st.queue.pop_front();
  metrics::password_hash_waiting(-1);
  run_on(self, w, std::move(next.job), std::move(next.promise));
}

void run_on(hasher_pointer self, password_hasher_actor w, password_job job,
            caf::typed_response_promise<password_result> promise) {
  self->request(w, caf::infinite, std::move(job))
      .then(
          [=](password_result& r) mutable {
            promise.deliver(std::move(r));
            take_next(self, w);
          },
          [=](caf::error& e) mutable {
            promise.deliver(std::move(e));
            take_next(self, w);
          });
}

password_hasher_actor::behavior_type hasher(hasher_pointer self, password_hasher_options opts) {
  for (int i = 0; i < opts.threads; ++i)
    self->state.idle.push_back(self->spawn<caf::detached + caf::linked>(worker));
  return {
      [=](password_job& job) -> caf::result<password_result> {
        auto& st = self->state;
        if (st.idle.empty() && st.queue.size() >= static_cast<std::size_t>(opts.max_queue)) {
          metrics::password_hash_rejected();
          return make_error(errc::unavailable,
                            "too many sign-ins are being checked at once; retry shortly");
        }
        auto promise = self->make_response_promise<password_result>();
        if (st.idle.empty()) {
          st.queue.push_back({std::move(job), promise});
          metrics::password_hash_waiting(1);
          return promise;
        }
        auto w = st.idle.back();
        st.idle.pop_back();
        run_on(self, w, std::move(job), promise);
        return promise;
      },
  };
}

} // namespace

password_hasher_actor spawn_password_hasher(caf::actor_system& sys, password_hasher_options opts) {
  return sys.spawn(hasher, opts);
}

} // namespace troupe::runtime
