// Messages between the gateway and the domain actors, and the typed actor
// interfaces that carry them.
//
//   gateway ──verify_atom, credential──► credential verifier ──► auth_outcome
//   gateway ──api_request──────────────► domain actor (accounts, playbooks, system)
//                                        └─► store ─► api_response ─► gateway
//
// Every type here has an inspect() overload and is registered in
// register_message_types(), so it can cross nodes.
#pragma once

#include "messages/api_types.hpp"

#include <caf/all.hpp>
#include <functional>

namespace troupe {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, principal& x) {
  return f(caf::meta::type_name("troupe.principal"), x.user_id, x.email, x.scopes, x.key_prefix,
           x.rate_limit_per_minute);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_request& x) {
  return f(caf::meta::type_name("troupe.api_request"), x.request_id, x.method, x.op, x.route, x.params,
           x.query, x.headers, x.body, x.caller, x.client_address);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_response& x) {
  return f(caf::meta::type_name("troupe.api_response"), x.status, x.body, x.headers);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, credential& x) {
  return f(caf::meta::type_name("troupe.credential"), x.token, x.request_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, auth_outcome& x) {
  return f(caf::meta::type_name("troupe.auth_outcome"), x.ok, x.status, x.message, x.who);
}

using verify_atom = caf::atom_constant<caf::atom("verify")>;
using invalidate_atom = caf::atom_constant<caf::atom("invalidat")>;

// A domain actor: answers routed API requests.
using api_actor = caf::typed_actor<caf::replies_to<api_request>::with<api_response>>;

// A request answered by calling `reply` rather than with a response message:
// the gateway's io thread sends the hottest route (POST …/outcomes) straight
// to the ingestion actor with it, instead of through the bridge actor and a
// request/response pair. Local to a node by construction (it holds a
// callback), so it is never registered for the network.
struct direct_request {
  api_request req;
  std::function<void(api_response)> reply;
};

// A domain actor that also takes direct requests.
using direct_actor = caf::typed_actor<caf::reacts_to<direct_request>>;

// The credential verifier: checks API keys and JWTs, caches API-key lookups
// for auth.cache_ttl, and drops a user's keys from its cache on invalidate (by user id).
using credential_actor =
    caf::typed_actor<caf::replies_to<verify_atom, credential>::with<auth_outcome>,
                     caf::reacts_to<invalidate_atom, std::string>>;

// Registers every message type of troupe with the actor system.
void register_message_types(caf::actor_system_config& cfg);

} // namespace troupe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::direct_request)
