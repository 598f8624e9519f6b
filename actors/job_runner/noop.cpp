#include "actors/job_runner/noop.hpp"

#include <map>
#include <nlohmann/json.hpp>

namespace troupe::job_runner {
namespace {

using step_atom = caf::atom_constant<caf::atom("step")>;
using noop_impl = job_executor_actor::extend<caf::reacts_to<step_atom, std::string>>;

struct stepping_job {
  job_assignment job;
  caf::typed_response_promise<job_result> promise;
  int steps_left = 0;
  int step_ms = 0;
  bool stop = false;
};

struct noop_state {
  std::map<std::string, stepping_job> stepping;
  static inline const char* name = "troupe.noop";
};

job_result result(const job_assignment& job, attempt_end status, std::string error = {},
                  bool retryable = true) {
  nlohmann::json r = {{"attempt", job.attempt}};
  return {job.id, job.lease_token, status, false, retryable, std::move(error), r.dump()};
}

noop_impl::behavior_type noop(noop_impl::stateful_pointer<noop_state> self) {
  return {
      [=](job_assignment& job) -> caf::result<job_result> {
        auto payload = nlohmann::json::parse(job.payload, nullptr, false);
        if (!payload.is_object())
          payload = nlohmann::json::object();
        int fail_attempts = payload.value("fail_attempts", 0);
        if (job.attempt <= fail_attempts)
          return result(job, attempt_end::failed, "noop failure on attempt " + std::to_string(job.attempt),
                        payload.value("retryable", true));
        int steps = payload.value("steps", 0);
        if (steps <= 0)
          return result(job, attempt_end::completed);
        auto promise = self->make_response_promise<job_result>();
        int step_ms = std::max(0, payload.value("step_ms", 10));
        auto id = job.id;
        self->state.stepping[id] = {std::move(job), promise, steps, step_ms, false};
        self->delayed_send(self, std::chrono::milliseconds{step_ms}, step_atom::value, id);
        return promise;
      },
      [=](step_atom, const std::string& id) {
        auto it = self->state.stepping.find(id);
        if (it == self->state.stepping.end())
          return;
        auto& s = it->second;
        if (s.stop || --s.steps_left == 0) {
          s.promise.deliver(result(s.job, s.stop ? attempt_end::cancelled : attempt_end::completed));
          self->state.stepping.erase(it);
          return;
        }
        self->delayed_send(self, std::chrono::milliseconds{s.step_ms}, step_atom::value, id);
      },
      [=](stop_job_atom, const std::string& id) {
        if (auto it = self->state.stepping.find(id); it != self->state.stepping.end())
          it->second.stop = true;
      },
  };
}

} // namespace

job_executor_actor spawn_noop(caf::actor_system& sys) {
  return caf::actor_cast<job_executor_actor>(sys.spawn(noop));
}

} // namespace troupe::job_runner
