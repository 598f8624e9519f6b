// The playbooks actor: playbooks and their immutable versions (api.md,
// Playbooks). Every change that creates a version inserts it and moves
// current_version_id in one transaction, with the playbook row locked so
// version numbers are assigned one at a time.
#pragma once

#include "config/settings.hpp"
#include "messages/api.hpp"
#include "runtime/store.hpp"

#include <pqxx/transaction_base>
#include <string>

namespace troupe::playbooks {

// Registers the actor's prepared statements (call before spawn_store).
void register_statements();

// The one tenancy check of a playbook route: throws not_found("playbook")
// unless the caller owns playbook `id` (another tenant's playbook looks
// exactly like one that does not exist).
void require_owned(pqxx::transaction_base& tx, const std::string& id, const std::string& user_id);

api_actor spawn_playbooks(caf::actor_system& sys, store_actor store,
                          config::playbooks_settings limits);

} // namespace troupe::playbooks
