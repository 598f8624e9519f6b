// Messages of the cluster link (docs/cluster.md): what crosses between a
// worker and the gateways it joins. Nothing else crosses; the store never
// does (every node has its own pool on the shared Postgres).
//
//   worker's link actor                    gateway's cluster actor (published)
//        ├──challenge(worker nonce)────────────►│  the gateway proves the secret first
//        │◄─────(gateway id, nonce, its proof)───┤  and hands out a nonce of its own
//        ├──join(hello: id, role, proof, peer,──►│  the worker proves it over that nonce
//        │        its token)                     │
//        │◄───welcome(gateway list, its token)───┤
//        ├──heartbeat(token) every interval─────►│  → true while a member; silent past
//        │                                       │    node_timeout: dropped (false: rejoin)
//        ├──tail(token) (events written here)───►│──► event bridge reads the log now
//        │◄──wake(token) (a job was enqueued)────┤
//        └──leave(token) on drain───────────────►│
//
// Only a joined peer's messages are acted on; the rest are dropped unread.
// After the join every message carries the token its receiver handed out
// (random, per link), so a peer that only claims another's CAF node id (a
// field of the BASP message) cannot speak for it. Without TLS the tokens
// travel in the clear: they stop forgery, not eavesdropping.
#pragma once

#include "messages/events.hpp"
#include "messages/jobs.hpp"

#include <caf/all.hpp>
#include <string>
#include <vector>

namespace troupe {

using challenge_atom = caf::atom_constant<caf::atom("challenge")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;

// A worker's side of the link: the gateways it joined nudge it on enqueue.
using node_peer_actor = caf::typed_actor<caf::reacts_to<wake_atom, std::string>>;

// The gateway's answer to a challenge: it proves the secret over the
// worker's nonce (so a worker hands its handle only to a real gateway) and
// gives the nonce the worker's own proof must cover.
struct node_challenge {
  std::string node_id; // the gateway's
  std::string nonce;
  std::string proof; // empty when no secret is configured
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_challenge& x) {
  return f(caf::meta::type_name("troupe.node_challenge"), x.node_id, x.nonce, x.proof);
}

struct node_hello {
  std::string node_id;
  std::string role; // "worker" (as the nodes table spells it)
  std::string version;
  std::string proof; // over the gateway's nonce; empty when no secret is configured
  node_peer_actor peer;
  std::string token; // what the gateway's wake-ups must carry
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_hello& x) {
  return f(caf::meta::type_name("troupe.node_hello"), x.node_id, x.role, x.version, x.proof,
           x.peer, x.token);
}

struct node_welcome {
  std::vector<std::string> gateways; // cluster addresses of every live gateway, for the peer to join
  std::string token;                 // what the peer's heartbeats, tails and leave must carry
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_welcome& x) {
  return f(caf::meta::type_name("troupe.node_welcome"), x.gateways, x.token);
}

using cluster_actor =
    caf::typed_actor<caf::replies_to<challenge_atom, std::string>::with<node_challenge>,
                     caf::replies_to<join_atom, node_hello>::with<node_welcome>,
                     caf::replies_to<heartbeat_atom, std::string>::with<bool>,
                     caf::reacts_to<leave_atom, std::string>,
                     caf::reacts_to<tail_atom, std::string>>;

void register_cluster_message_types(caf::actor_system_config& cfg);

} // namespace troupe
