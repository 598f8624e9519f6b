// The usage actor: GET /v1/usage — token and cost totals from usage records
// (api.md, Usage), for the caller only.
#pragma once

#include "messages/api.hpp"
#include "runtime/store.hpp"

namespace troupe::usage {

api_actor spawn_usage_api(caf::actor_system& sys, store_actor store);

} // namespace troupe::usage
