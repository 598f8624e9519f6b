// The playbooks actor: playbooks and their immutable versions (api.md,
// Playbooks). Every change that creates a version inserts it and moves
// current_version_id in one transaction, with the playbook row locked so
// version numbers are assigned one at a time.
#pragma once

#include "config/settings.hpp"
#include "messages/api.hpp"
#include "runtime/input.hpp"
#include "runtime/store.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>

#include <pqxx/transaction_base>
#include <string>

namespace troupe::playbooks {

// Registers the actor's prepared statements (call before spawn_store).
void register_statements();

// The one tenancy check of a playbook route: throws not_found("playbook")
// unless the caller owns playbook `id` (another tenant's playbook looks
// exactly like one that does not exist).
void require_owned(pqxx::transaction_base& tx, const std::string& id, const std::string& user_id);

// Content validated and normalised for storage (any accepted format, printed
// as ACE): throws invalid_argument("content", …) for invalid UTF-8 or a
// repeated bullet id. Bullets without an id get one from `next_id` on.
struct prepared_content {
  std::string text;
  std::int64_t bullet_count = 0;
  std::int64_t token_estimate = 0;
  std::int64_t next_id = 1; // the playbook's bullet id counter after this content
};
prepared_content prepare_content(const std::string& raw, std::int64_t next_id);

// The playbook as GET /v1/playbooks/{id} shows it; throws not_found.
nlohmann::json fetch_playbook(pqxx::transaction_base& tx, const std::string& id,
                              const std::string& user_id);

// A playbook's name and description limits (characters), as create checks them.
input::text_limits name_limits(const config::playbooks_settings& lim);
input::text_limits description_limits(const config::playbooks_settings& lim);

api_actor spawn_playbooks(caf::actor_system& sys, store_actor store,
                          config::playbooks_settings limits);

} // namespace troupe::playbooks
