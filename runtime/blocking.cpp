#include "runtime/blocking.hpp"

#include <exception>

namespace troupe::runtime {
namespace {

blocking_actor::behavior_type blocking_worker(blocking_actor::pointer self) {
  return {
      [=](blocking_call& call) -> caf::result<std::string> {
        std::string problem;
        try {
          call.run();
        } catch (const std::exception& e) {
          problem = *e.what() ? e.what() : "error";
        } catch (...) {
          problem = "unknown error";
        }
        auto promise = self->make_response_promise<std::string>();
        promise.deliver(std::move(problem));
        self->quit();
        return promise;
      },
  };
}

} // namespace

blocking_actor spawn_blocking(caf::actor_system& sys) {
  return sys.spawn<caf::detached>(blocking_worker);
}

} // namespace troupe::runtime
