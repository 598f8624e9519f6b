#include "actors/critic/critic.hpp"

#include "actors/critique/plan_critique.hpp"
#include "actors/evolution/pipeline.hpp"
#include "runtime/blocking.hpp"
#include "runtime/metrics.hpp"

namespace troupe::evolution {
namespace {

void counted(const critic_votes& v) {
  for (const auto& vote : v.votes)
    metrics::critic_vote(v.perspective, vote.score);
}

// A plan critique's items, judged by the plan rules from `perspective`
// (critique::vote_on): the same for builtin and llm critics, as the plan
// rules have no model step.
critic_votes review_plan(const std::string& perspective, const critique::plan_review& r) {
  critic_votes out;
  out.perspective = perspective;
  for (const auto& item : r.items) {
    auto v = critique::vote_on(item, r.p);
    out.votes.push_back(perspective == "completeness" ? v.completeness
                        : perspective == "efficiency" ? v.efficiency
                                                      : v.safety);
  }
  counted(out);
  return out;
}

critic_actor::behavior_type builtin_critic(critic_actor::pointer, std::string perspective) {
  return {
      [=](critique_request& req) {
        auto out = judge(perspective, req.playbook, req.operations, req.cfg);
        counted(out);
        return out;
      },
      [=](critique::plan_review& r) { return review_plan(perspective, r); },
  };
}

critic_actor::behavior_type llm_critic(critic_actor::pointer self, std::string perspective,
                                       std::shared_ptr<const llm_engine> engine) {
  return {
      [=](critique_request& req) -> caf::result<critic_votes> {
        auto promise = self->make_response_promise<critic_votes>();
        auto out = std::make_shared<critic_votes>();
        auto call = [=, req = std::move(req)] {
          usage_tally usage;
          *out = judge_llm(perspective, req.playbook, req.operations, req.cfg, *engine, usage);
          out->usage = usage.entries();
        };
        self->request(runtime::spawn_blocking(self->system()), caf::infinite,
                      runtime::blocking_call{std::move(call)})
            .then(
                [=](std::string& problem) mutable {
                  if (problem.empty()) {
                    counted(*out);
                    promise.deliver(std::move(*out));
                  } else {
                    promise.deliver(caf::make_error(caf::sec::runtime_error, problem));
                  }
                },
                [=](caf::error& e) mutable { promise.deliver(std::move(e)); });
        return promise;
      },
      [=](critique::plan_review& r) { return review_plan(perspective, r); },
  };
}

} // namespace

critic_actor spawn_critic(caf::actor_system& sys, const std::string& perspective,
                          std::shared_ptr<const llm_engine> engine) {
  judge(perspective, "", {}, {}); // refuses an unknown perspective before spawning
  if (engine)
    return sys.spawn(llm_critic, perspective, std::move(engine));
  return sys.spawn(builtin_critic, perspective);
}

} // namespace troupe::evolution
