// The cluster link (docs/cluster.md; messages in messages/cluster.hpp).
//
// A gateway (or serve) publishes its cluster actor; a worker's link actor
// joins every gateway it is told of, proves the shared secret, and keeps
// the links alive. Postgres stays the truth for everything: a lost link
// only costs the speed of a wake-up (NOTIFY and polling remain), never a job.
#pragma once

#include "messages/cluster.hpp"
#include "messages/events.hpp"
#include "messages/jobs.hpp"
#include "runtime/store.hpp"

#include <atomic>
#include <caf/all.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace troupe::cluster {

// The proof a node gives: HMAC-SHA256(secret, purpose|nonce|node id), hex.
std::string proof(const std::string& secret, std::string_view purpose, std::string_view nonce,
                  std::string_view node_id);

// The links a node's fan-out callbacks send over; they run on store
// threads, so the list is locked. Each link has the token its receiver
// handed out, sent with every message; `origin` is the actor the messages
// are sent as.
template <class Handle>
class link_list {
public:
  void set_origin(caf::actor origin) {
    std::lock_guard guard{mutex_};
    origin_ = std::move(origin);
  }
  void add(Handle h, std::string token) {
    std::lock_guard guard{mutex_};
    links_.emplace_back(std::move(h), std::move(token));
  }
  void remove(const caf::actor_addr& addr) {
    std::lock_guard guard{mutex_};
    std::erase_if(links_, [&](const auto& l) { return l.first.address() == addr; });
  }
  std::size_t size() const {
    std::lock_guard guard{mutex_};
    return links_.size();
  }
  // Sends (atom, token) over every link.
  template <class Atom>
  void send_all(Atom atom) const {
    std::lock_guard guard{mutex_};
    for (const auto& [h, token] : links_) {
      if (origin_)
        caf::send_as(origin_, h, atom, token);
      else
        caf::anon_send(h, atom, token);
    }
  }
  void clear() {
    std::lock_guard guard{mutex_};
    links_.clear();
    origin_ = nullptr;
  }

private:
  mutable std::mutex mutex_;
  caf::actor origin_;
  std::vector<std::pair<Handle, std::string>> links_;
};

using peer_links = link_list<node_peer_actor>;  // a gateway's joined workers
using gateway_links = link_list<cluster_actor>; // a worker's joined gateways

struct gateway_options {
  std::string node_id;
  std::string secret;          // empty: no proof asked (mutual TLS or loopback only)
  std::chrono::milliseconds heartbeat_interval{0};
  std::chrono::seconds node_timeout{0};
  store_actor store;
  event_bridge_actor bridge; // woken when a joined worker wrote events
};

// The gateway's cluster actor; joined workers' nudge handles go to `peers`.
cluster_actor spawn_gateway(caf::actor_system& sys, gateway_options opts,
                            std::shared_ptr<peer_links> peers);

// Publishes `actor` at `listen` (HOST:PORT; TLS when the OpenSSL module is
// loaded); returns the bound HOST:PORT. Throws on failure.
std::string publish(caf::actor_system& sys, const cluster_actor& actor, const std::string& listen,
                    bool tls);

struct worker_options {
  std::string node_id;
  std::string role = "worker";
  std::string version;
  std::string secret;
  std::vector<std::string> join; // HOST:PORT of the gateways' cluster actors
  std::chrono::milliseconds heartbeat_interval{0};
  bool tls = false;
  job_runner_actor runner; // nudged when a gateway says a job was enqueued
  // Set while the node may claim jobs (see update_admission in the source):
  // the runner's claim gate.
  std::shared_ptr<std::atomic<bool>> admitted;
};

// The worker's link actor: joins and keeps joined every gateway, with a
// back-off per gateway; the joined ones go to `gateways`.
node_peer_actor spawn_worker_link(caf::actor_system& sys, worker_options opts,
                                  std::shared_ptr<gateway_links> gateways);

// The node is leaving: the link actor stops, and every joined gateway is
// told (`leave`), so none nudges it any more.
void leave(const node_peer_actor& link, gateway_links& gateways);

} // namespace troupe::cluster
