#include "messages/api.hpp"
#include "messages/cluster.hpp"
#include "messages/error_code.hpp"
#include "messages/evolution.hpp"
#include "messages/jobs.hpp"

namespace troupe {

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_error_category(error_category(),
                         [](std::uint8_t code, caf::atom_value, const caf::message& ctx) {
                           auto text = "troupe: " + to_string(static_cast<errc>(code));
                           if (ctx.size() >= 1 && ctx.match_element<std::string>(0))
                             text += " (" + ctx.get_as<std::string>(0) + ")";
                           return text;
                         });
  cfg.add_message_type<principal>("troupe.principal");
  cfg.add_message_type<api_request>("troupe.api_request");
  cfg.add_message_type<api_response>("troupe.api_response");
  cfg.add_message_type<credential>("troupe.credential");
  cfg.add_message_type<auth_outcome>("troupe.auth_outcome");
  register_job_message_types(cfg);
  register_cluster_message_types(cfg);
  evolution::register_evolution_message_types(cfg);
}

void register_cluster_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<node_challenge>("troupe.node_challenge");
  cfg.add_message_type<node_hello>("troupe.node_hello");
  cfg.add_message_type<node_welcome>("troupe.node_welcome");
  cfg.add_message_type<node_peer_actor>("troupe.node_peer_actor");
}

void register_job_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<job_assignment>("troupe.job_assignment");
  cfg.add_message_type<job_result>("troupe.job_result");
}

} // namespace troupe

namespace troupe::evolution {

void register_evolution_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<operation>("troupe.operation");
  cfg.add_message_type<vote>("troupe.vote");
  cfg.add_message_type<curation_config>("troupe.curation_config");
  cfg.add_message_type<voter_config>("troupe.voter_config");
  cfg.add_message_type<decision>("troupe.decision");
  cfg.add_message_type<critique_request>("troupe.critique_request");
  cfg.add_message_type<critic_votes>("troupe.critic_votes");
  cfg.add_message_type<vote_request>("troupe.vote_request");
  cfg.add_message_type<vote_result>("troupe.vote_result");
  cfg.add_message_type<critique::plan_step>("troupe.plan_step");
  cfg.add_message_type<critique::plan>("troupe.plan");
  cfg.add_message_type<critique::feedback_item>("troupe.feedback_item");
  cfg.add_message_type<critique::plan_review>("troupe.plan_review");
}

} // namespace troupe::evolution
