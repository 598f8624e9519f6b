#include "actors/critic/critic.hpp"

#include "actors/evolution/pipeline.hpp"

namespace troupe::evolution {
namespace {

critic_actor::behavior_type critic(critic_actor::pointer, std::string perspective) {
  return {
      [=](critique_request& req) {
        return judge(perspective, req.playbook, req.operations, req.cfg);
      },
  };
}

} // namespace

critic_actor spawn_critic(caf::actor_system& sys, const std::string& perspective) {
  judge(perspective, "", {}, {}); // refuses an unknown perspective before spawning
  return sys.spawn(critic, perspective);
}

} // namespace troupe::evolution
