#include "messages/api.hpp"
#include "messages/jobs.hpp"

namespace troupe {

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<principal>("troupe.principal");
  cfg.add_message_type<api_request>("troupe.api_request");
  cfg.add_message_type<api_response>("troupe.api_response");
  cfg.add_message_type<credential>("troupe.credential");
  cfg.add_message_type<auth_outcome>("troupe.auth_outcome");
  register_job_message_types(cfg);
}

void register_job_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<job_assignment>("troupe.job_assignment");
  cfg.add_message_type<job_result>("troupe.job_result");
}

} // namespace troupe
