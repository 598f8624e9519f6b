#include "actors/voter/voter.hpp"

#include "actors/evolution/critics.hpp"
#include "runtime/metrics.hpp"

#include <algorithm>

namespace troupe::evolution {
namespace {

voter_actor::behavior_type voter(voter_actor::pointer) {
  return {
      [=](vote_request& req) {
        vote_result out;
        auto n = std::min({req.completeness.votes.size(), req.efficiency.votes.size(),
                           req.safety.votes.size()});
        out.decisions.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
          out.decisions.push_back(decide(req.completeness.votes[i], req.efficiency.votes[i],
                                         req.safety.votes[i], req.cfg));
          metrics::voter_decision(out.decisions.back().accepted, out.decisions.back().vetoed);
        }
        return out;
      },
  };
}

} // namespace

voter_actor spawn_voter(caf::actor_system& sys) { return sys.spawn(voter); }

} // namespace troupe::evolution
