#include "actors/cluster/cluster.hpp"

#include "messages/error_code.hpp"
#include "runtime/crypto.hpp"
#include "runtime/log.hpp"

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <unistd.h>

namespace troupe::cluster {
namespace {

using clock = std::chrono::steady_clock;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

// Nonces handed out and not yet used; more outstanding challenges than this
// (a peer that never joins) drop the oldest, whose join then fails as
// "retry" (not as a refusal).
constexpr std::size_t max_pending_challenges = 256;
// A challenge not answered by a join within this long is void.
constexpr auto challenge_lifetime = std::chrono::seconds{30};
// A worker's wait for each step of joining a gateway, and for a heartbeat's
// answer.
constexpr auto join_step_timeout = std::chrono::seconds{10};
// Reconnect back-off of a worker to one gateway: from the heartbeat interval
// up to this cap.
constexpr auto max_join_backoff = std::chrono::seconds{10};
// How long a welcome waits for the gateway list from the database; later,
// the worker is welcomed without it (it would give up on the join first).
constexpr auto welcome_list_timeout = std::chrono::seconds{2};
// Nonces and tokens: random hex of this many bytes.
constexpr std::size_t nonce_bytes = 16;

constexpr std::string_view gateway_purpose = "troupe-cluster-gateway";
constexpr std::string_view worker_purpose = "troupe-cluster-worker";

struct host_port {
  std::string host;
  std::uint16_t port = 0;
};

// HOST:PORT, IPv6 hosts in brackets; port 0 only when `any_port`.
std::optional<host_port> split(const std::string& address, bool any_port = false) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return std::nullopt;
  host_port out;
  out.host = address.substr(0, colon);
  if (out.host.size() > 1 && out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);
  try {
    auto port = std::stoi(address.substr(colon + 1));
    if (port < (any_port ? 0 : 1) || port > 65535)
      return std::nullopt;
    out.port = static_cast<std::uint16_t>(port);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return out;
}

bool proof_matches(const std::string& secret, std::string_view purpose, std::string_view nonce,
                   std::string_view node_id, const std::string& given) {
  if (secret.empty())
    return true;
  return crypto::equal_constant_time(proof(secret, purpose, nonce, node_id), given);
}

bool plausible_token(const std::string& t) { return t.size() >= 2 * nonce_bytes && t.size() <= 128; }

// ---------------------------------------------------------------------------
// The gateway's cluster actor.

struct member {
  caf::node_id caf_node;
  std::string node_id;
  std::string role;
  node_peer_actor peer;
  clock::time_point last_seen;
};

struct pending_challenge {
  std::string nonce;
  clock::time_point issued;
};

struct gateway_state {
  std::map<std::string, member> members; // by the token this gateway issued at the join
  std::map<caf::node_id, pending_challenge> pending;
  static inline const char* name = "troupe.cluster.gateway";
};

using gateway_impl = cluster_actor::extend<caf::reacts_to<tick_atom>>;
using gateway_pointer = gateway_impl::stateful_pointer<gateway_state>;

// The member a message speaks for: the token it carries names one, and it
// comes from that member's node. Anything else is dropped unread.
member* member_of(gateway_pointer self, const std::string& token) {
  const auto& sender = self->current_sender();
  if (!sender)
    return nullptr;
  auto it = self->state.members.find(token);
  if (it == self->state.members.end() || it->second.caf_node != sender->node())
    return nullptr;
  return &it->second;
}

void drop_member(gateway_pointer self, std::map<std::string, member>::iterator it,
                 const std::shared_ptr<peer_links>& peers, std::string_view why) {
  log::info(why, {{"peer_node", it->second.node_id}, {"role", it->second.role}});
  peers->remove(it->second.peer.address());
  self->demonitor(it->second.peer.address());
  self->state.members.erase(it);
}

std::vector<std::string> live_gateways(pqxx::connection& c, int timeout_s) {
  pqxx::nontransaction tx{c};
  std::vector<std::string> out;
  for (const auto& r : tx.exec_params(
           "SELECT cluster_address FROM nodes WHERE role IN ('gateway', 'serve')"
           " AND cluster_address IS NOT NULL AND left_at IS NULL"
           " AND heartbeat_at > now() - make_interval(secs => $1) ORDER BY started_at",
           timeout_s))
    out.emplace_back(r[0].c_str());
  return out;
}

caf::result<node_welcome> admit(gateway_pointer self, const gateway_options& opts,
                                const std::shared_ptr<peer_links>& peers, node_hello& hello) {
  const auto& sender = self->current_sender();
  auto caf_node = sender->node();
  auto& members = self->state.members;
  for (auto it = members.begin(); it != members.end(); ++it)
    if (it->second.node_id == hello.node_id || it->second.caf_node == caf_node) {
      drop_member(self, it, peers, "a node joined again");
      break;
    }
  auto token = crypto::random_hex(nonce_bytes);
  self->monitor(hello.peer);
  members[token] = {caf_node, hello.node_id, hello.role, hello.peer, clock::now()};
  peers->add(hello.peer, hello.token);
  log::info("a node joined the cluster",
            {{"peer_node", hello.node_id}, {"role", hello.role}, {"version", hello.version}});
  auto promise = self->make_response_promise<node_welcome>();
  int timeout_s = static_cast<int>(opts.node_timeout.count());
  runtime::store_call_within(
      self, opts.store, caf::duration{welcome_list_timeout}, "cluster-join",
      [timeout_s](pqxx::connection& c) { return live_gateways(c, timeout_s); },
      [=](std::vector<std::string> list) mutable {
        promise.deliver(node_welcome{std::move(list), token});
      },
      [=](caf::error&) mutable {
        // The database is away: the worker still joins this gateway.
        promise.deliver(node_welcome{{}, token});
      });
  return promise;
}

gateway_impl::behavior_type gateway(gateway_pointer self, gateway_options opts,
                                    std::shared_ptr<peer_links> peers) {
  peers->set_origin(caf::actor_cast<caf::actor>(self));
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& members = self->state.members;
    // By control block, not address: a node that rejoined over a new
    // connection has a new proxy, and the old one's down message must not
    // drop it.
    for (auto it = members.begin(); it != members.end(); ++it)
      if (it->second.peer.address().get() == msg.source.get()) {
        drop_member(self, it, peers, "lost the link to a node");
        return;
      }
  });
  self->send(self, tick_atom::value);
  return {
      [=](challenge_atom, const std::string& peer_nonce) -> caf::result<node_challenge> {
        const auto& sender = self->current_sender();
        if (!sender || peer_nonce.size() < 2 * nonce_bytes || peer_nonce.size() > 128)
          return make_error(errc::invalid_argument, "a challenge needs a sender and a nonce");
        auto& pending = self->state.pending;
        if (pending.size() >= max_pending_challenges) {
          auto oldest = pending.begin();
          for (auto it = pending.begin(); it != pending.end(); ++it)
            if (it->second.issued < oldest->second.issued)
              oldest = it;
          pending.erase(oldest);
        }
        auto nonce = crypto::random_hex(nonce_bytes);
        pending[sender->node()] = {nonce, clock::now()};
        return node_challenge{opts.node_id, nonce,
                              opts.secret.empty()
                                  ? std::string{}
                                  : proof(opts.secret, gateway_purpose, peer_nonce, opts.node_id)};
      },
      [=](join_atom, node_hello& hello) -> caf::result<node_welcome> {
        const auto& sender = self->current_sender();
        if (!sender)
          return make_error(errc::unauthenticated, "a join needs a sender");
        auto& pending = self->state.pending;
        auto it = pending.find(sender->node());
        if (it == pending.end() || clock::now() - it->second.issued > challenge_lifetime) {
          if (it != pending.end())
            pending.erase(it);
          // Not a refusal: the challenge expired or was crowded out. Retry.
          return make_error(errc::unavailable, "no fresh challenge for this node; ask again");
        }
        auto nonce = std::move(it->second.nonce);
        pending.erase(it);
        if (hello.proof.empty() != opts.secret.empty() ||
            !proof_matches(opts.secret, worker_purpose, nonce, hello.node_id, hello.proof)) {
          log::warn("refused a node: it did not prove the cluster secret",
                    {{"peer_node", hello.node_id}, {"caf_node", caf::to_string(sender->node())}});
          return make_error(errc::unauthenticated, "the cluster secret does not match");
        }
        if (!hello.peer || hello.peer->node() != sender->node() || hello.node_id.empty() ||
            hello.node_id.size() > 256 || hello.role != "worker" || !plausible_token(hello.token))
          return make_error(errc::invalid_argument,
                            "a join names its own node, role, handle and token");
        return admit(self, opts, peers, hello);
      },
      [=](heartbeat_atom, const std::string& token) -> bool {
        auto* m = member_of(self, token);
        if (m)
          m->last_seen = clock::now();
        return m != nullptr; // false: this gateway dropped the link; join again
      },
      [=](leave_atom, const std::string& token) {
        if (member_of(self, token))
          drop_member(self, self->state.members.find(token), peers, "a node left the cluster");
      },
      [=](tail_atom, const std::string& token) {
        if (auto* m = member_of(self, token)) {
          m->last_seen = clock::now();
          if (opts.bridge)
            self->send(opts.bridge, tail_atom::value);
        }
      },
      [=](tick_atom) {
        auto now = clock::now();
        auto& members = self->state.members;
        for (auto it = members.begin(); it != members.end();) {
          auto next = std::next(it);
          if (now - it->second.last_seen > opts.node_timeout)
            drop_member(self, it, peers, "a node went silent; its link is dropped");
          it = next;
        }
        std::erase_if(self->state.pending, [&](const auto& p) {
          return now - p.second.issued > challenge_lifetime;
        });
        self->delayed_send(self, opts.heartbeat_interval, tick_atom::value);
      },
  };
}

// ---------------------------------------------------------------------------
// The worker's link actor.

struct target {
  std::string address;
  host_port where;
  cluster_actor gateway;
  std::string gateway_id;
  std::string token_in;  // the gateway's: our heartbeats, tails and leave carry it
  std::string token_out; // ours: the gateway's wake-ups must carry it
  bool joined = false;
  bool connecting = false;
  bool beating = false; // a heartbeat is waiting for its answer
  // The gateway refused this node's credentials (or this node the
  // gateway's), as opposed to not answering. Sticky until a join succeeds:
  // a refusing gateway that then goes away does not admit the node.
  bool refused = false;
  bool tried = false;
  clock::time_point next_try{};
  std::chrono::milliseconds backoff{0};
  std::string last_error; // logged once per change, not once per retry
};

enum class admission_state { undecided, admitted, refused };

struct link_state {
  std::vector<target> targets;
  std::set<std::string> aliases; // addresses found to reach a gateway already joined
  admission_state admission = admission_state::undecided;
  static inline const char* name = "troupe.cluster.link";
};

using link_impl = node_peer_actor::extend<caf::reacts_to<tick_atom>>;
using link_pointer = link_impl::stateful_pointer<link_state>;

target* find_target(link_pointer self, const std::string& address) {
  for (auto& t : self->state.targets)
    if (t.address == address)
      return &t;
  return nullptr;
}

void add_target(link_pointer self, const std::string& address) {
  if (find_target(self, address) || self->state.aliases.count(address))
    return;
  auto where = split(address);
  if (!where) {
    log::warn("ignored a gateway address that is not HOST:PORT", {{"address", address}});
    return;
  }
  target t;
  t.address = address;
  t.where = *where;
  self->state.targets.push_back(std::move(t));
}

// A worker claims jobs once it joined a gateway, or while no gateway can be
// reached at all (Postgres is the truth; the link only makes it fast) —
// never while a gateway refuses its credentials: that is a misconfigured or
// foreign node.
void update_admission(link_pointer self, const worker_options& opts) {
  if (!opts.admitted)
    return;
  const auto& targets = self->state.targets;
  bool any_joined = false, any_refused = false, all_tried = true;
  for (const auto& t : targets) {
    any_joined = any_joined || t.joined;
    any_refused = any_refused || t.refused;
    all_tried = all_tried && t.tried;
  }
  auto verdict = any_joined    ? admission_state::admitted
                 : any_refused ? admission_state::refused
                 : all_tried   ? admission_state::admitted
                               : admission_state::undecided;
  auto& st = self->state;
  if (verdict == st.admission || verdict == admission_state::undecided)
    return;
  st.admission = verdict;
  opts.admitted->store(verdict == admission_state::admitted);
  if (verdict == admission_state::admitted)
    self->send(opts.runner, wake_atom::value);
  else
    log::error("a gateway refused this node's cluster credentials: it takes no jobs until "
               "it is admitted (check cluster.secret and the TLS files)");
}

void failed(link_pointer self, const worker_options& opts, const std::string& address,
            const std::string& why, bool refused = false, bool unreachable = false) {
  auto* t = find_target(self, address);
  if (!t)
    return;
  t->connecting = false;
  t->joined = false;
  t->tried = true;
  // Sticky across the same verdict, but a gateway that is simply not there
  // any more (a plain connect failure) no longer counts as refusing.
  t->refused = refused || (t->refused && !unreachable);
  t->backoff = std::min<std::chrono::milliseconds>(
      t->backoff.count() == 0 ? opts.heartbeat_interval : t->backoff * 2, max_join_backoff);
  t->next_try = clock::now() + t->backoff;
  if (why != t->last_error)
    log::warn("could not join a gateway; jobs still run from the database, and the node "
              "keeps trying",
              {{"gateway", address}, {"error", why}});
  t->last_error = why;
  update_admission(self, opts);
}

// The link to a joined gateway is gone (its connection dropped, or it no
// longer knows this node): forget it and join again.
void lost(link_pointer self, const worker_options& opts,
          const std::shared_ptr<gateway_links>& gateways, target& t, std::string_view why) {
  if (!t.joined)
    return;
  gateways->remove(t.gateway.address());
  self->demonitor(t.gateway.address());
  log::warn(why, {{"gateway", t.address}});
  t.joined = false;
  t.beating = false;
  t.gateway = nullptr;
  t.next_try = clock::now() + opts.heartbeat_interval;
  update_admission(self, opts);
}

void joined(link_pointer self, const worker_options& opts,
            const std::shared_ptr<gateway_links>& gateways, const std::string& address,
            const node_welcome& welcome) {
  auto* t = find_target(self, address);
  if (!t)
    return;
  if (!plausible_token(welcome.token))
    return failed(self, opts, address, "the gateway's welcome carries no token");
  t->connecting = false;
  t->joined = true;
  t->tried = true;
  t->refused = false;
  t->token_in = welcome.token;
  t->beating = false;
  t->backoff = std::chrono::milliseconds{0};
  t->last_error.clear();
  self->monitor(t->gateway);
  gateways->add(t->gateway, t->token_in);
  log::info("joined a gateway", {{"gateway", address}, {"gateway_node", t->gateway_id}});
  for (const auto& other : welcome.gateways)
    add_target(self, other);
  update_admission(self, opts);
}

// Another address of a gateway this node already joined (or is joining):
// it is not joined twice.
bool is_alias(link_pointer self, const std::string& address, const std::string& gateway_id) {
  for (const auto& t : self->state.targets)
    if (t.address != address && t.gateway_id == gateway_id && (t.joined || t.connecting))
      return true;
  return false;
}

void forget_alias(link_pointer self, const worker_options& opts, const std::string& address) {
  self->state.aliases.insert(address);
  std::erase_if(self->state.targets, [&](const target& t) { return t.address == address; });
  update_admission(self, opts);
}

void connect(link_pointer self, const worker_options& opts,
             const std::shared_ptr<gateway_links>& gateways, target& t) {
  t.connecting = true;
  auto address = t.address;
  auto mm = opts.tls ? self->system().openssl_manager().actor_handle()
                     : self->system().middleman().actor_handle();
  // A refusal is an authentication verdict: the gateway's, or a TLS
  // handshake the peer broke off (CAF reports no more than that).
  auto fail = [=](caf::error& e) {
    bool refused = code_of(e) == errc::unauthenticated ||
                   (opts.tls && e == caf::sec::disconnect_during_handshake);
    failed(self, opts, address, self->system().render(e), refused);
  };
  // The connect itself: a handshake cut under TLS is a refusal; anything
  // else (refused, unreachable, timed out) means nobody is there.
  auto connect_failed = [=](caf::error& e) {
    bool cut = opts.tls && e == caf::sec::disconnect_during_handshake;
    failed(self, opts, address, self->system().render(e), cut, !cut);
  };
  self->request(mm, join_step_timeout, caf::connect_atom::value, t.where.host, t.where.port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (!ptr)
              return failed(self, opts, address, "nothing is published at that port");
            auto gw = caf::actor_cast<cluster_actor>(ptr);
            auto my_nonce = crypto::random_hex(nonce_bytes);
            self->request(gw, join_step_timeout, challenge_atom::value, my_nonce)
                .then(
                    [=](node_challenge& ch) {
                      if (!proof_matches(opts.secret, gateway_purpose, my_nonce, ch.node_id,
                                         ch.proof) ||
                          (!opts.secret.empty() && ch.proof.empty())) {
                        log::error("refused a gateway: it did not prove the cluster secret",
                                   {{"gateway", address}});
                        // A join with no proof, handle or token: the gateway
                        // logs the refusal on its side too, and learns nothing
                        // it could replay.
                        self->request(gw, join_step_timeout, join_atom::value,
                                      node_hello{opts.node_id, opts.role, opts.version, "",
                                                 node_peer_actor{}, ""})
                            .then([](node_welcome&) {}, [](caf::error&) {});
                        return failed(self, opts, address,
                                      "the gateway did not prove the cluster secret", true);
                      }
                      if (is_alias(self, address, ch.node_id))
                        return forget_alias(self, opts, address);
                      auto* t = find_target(self, address);
                      if (!t)
                        return;
                      t->gateway = gw;
                      t->gateway_id = ch.node_id;
                      t->token_out = crypto::random_hex(nonce_bytes);
                      node_hello hello{opts.node_id,
                                       opts.role,
                                       opts.version,
                                       opts.secret.empty() ? std::string{}
                                                           : proof(opts.secret, worker_purpose,
                                                                   ch.nonce, opts.node_id),
                                       caf::actor_cast<node_peer_actor>(self),
                                       t->token_out};
                      self->request(gw, join_step_timeout, join_atom::value, std::move(hello))
                          .then(
                              [=](node_welcome& w) { joined(self, opts, gateways, address, w); },
                              fail);
                    },
                    fail);
          },
          connect_failed);
}

void heartbeat(link_pointer self, const worker_options& opts,
               const std::shared_ptr<gateway_links>& gateways, target& t) {
  if (t.beating)
    return;
  t.beating = true;
  auto address = t.address;
  auto token = t.token_in;
  // The answer belongs to the link it was asked on: after a rejoin (a new
  // token) a late answer of the old link changes nothing.
  auto current = [=]() -> target* {
    auto* t = find_target(self, address);
    return t && t->joined && t->token_in == token ? t : nullptr;
  };
  self->request(t.gateway, join_step_timeout, heartbeat_atom::value, token)
      .then(
          [=](bool member) {
            if (auto* t = current()) {
              t->beating = false;
              if (!member)
                lost(self, opts, gateways, *t,
                     "a gateway dropped this node's link; joining it again");
            }
          },
          [=](caf::error&) {
            if (auto* t = current()) {
              t->beating = false;
              lost(self, opts, gateways, *t,
                   "a gateway stopped answering heartbeats; joining it again");
            }
          });
}

link_impl::behavior_type worker_link(link_pointer self, worker_options opts,
                                     std::shared_ptr<gateway_links> gateways) {
  gateways->set_origin(caf::actor_cast<caf::actor>(self));
  for (const auto& a : opts.join)
    add_target(self, a);
  if (opts.admitted && self->state.targets.empty()) {
    opts.admitted->store(true); // joins nothing: Postgres alone
    self->state.admission = admission_state::admitted;
  }
  self->set_down_handler([=](caf::down_msg& msg) {
    for (auto& t : self->state.targets)
      if (t.joined && t.gateway.address().get() == msg.source.get())
        lost(self, opts, gateways, t, "lost the link to a gateway; jobs still run from the database");
  });
  self->send(self, tick_atom::value);
  return {
      [=](wake_atom, const std::string& token) {
        // Only a gateway this node joined may nudge its runner, with the
        // token this node gave it.
        const auto& sender = self->current_sender();
        if (!sender)
          return;
        for (const auto& t : self->state.targets)
          if (t.joined && t.gateway && t.gateway->node() == sender->node() &&
              crypto::equal_constant_time(t.token_out, token)) {
            self->send(opts.runner, wake_atom::value);
            return;
          }
      },
      [=](tick_atom) {
        auto now = clock::now();
        for (auto& t : self->state.targets) {
          if (t.joined)
            heartbeat(self, opts, gateways, t);
          else if (!t.connecting && now >= t.next_try)
            connect(self, opts, gateways, t);
        }
        self->delayed_send(self, opts.heartbeat_interval, tick_atom::value);
      },
  };
}

} // namespace

std::string proof(const std::string& secret, std::string_view purpose, std::string_view nonce,
                  std::string_view node_id) {
  std::string data{purpose};
  data += '|';
  data += nonce;
  data += '|';
  data += node_id;
  return crypto::hex(crypto::hmac_sha256(secret, data));
}

cluster_actor spawn_gateway(caf::actor_system& sys, gateway_options opts,
                            std::shared_ptr<peer_links> peers) {
  return caf::actor_cast<cluster_actor>(sys.spawn(gateway, std::move(opts), std::move(peers)));
}

std::string publish(caf::actor_system& sys, const cluster_actor& actor, const std::string& listen,
                    bool tls) {
  auto where = split(listen, true);
  if (!where)
    throw std::runtime_error("cluster.listen: not HOST:PORT: " + listen);
  auto port = tls ? caf::openssl::publish(actor, where->port, where->host.c_str(), true)
                  : sys.middleman().publish(actor, where->port, where->host.c_str(), true);
  if (!port)
    throw std::runtime_error("cannot publish the cluster actor on " + listen + ": " +
                             sys.render(port.error()));
  auto host = where->host;
  if (host == "0.0.0.0" || host == "::") {
    char name[256] = {0};
    gethostname(name, sizeof name - 1);
    host = name;
  } else if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";
  }
  return host + ":" + std::to_string(*port);
}

node_peer_actor spawn_worker_link(caf::actor_system& sys, worker_options opts,
                                  std::shared_ptr<gateway_links> gateways) {
  return caf::actor_cast<node_peer_actor>(
      sys.spawn(worker_link, std::move(opts), std::move(gateways)));
}

void leave(const node_peer_actor& link, gateway_links& gateways) {
  gateways.send_all(leave_atom::value);
  gateways.clear();
  if (link)
    caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
}

} // namespace troupe::cluster
