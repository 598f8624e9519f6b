#include "app/node.hpp"

#include "actors/accounts/accounts.hpp"
#include "actors/cluster/cluster.hpp"
#include "actors/critic/critic.hpp"
#include "actors/analyzer/analyzer.hpp"
#include "actors/critique/critique.hpp"
#include "actors/event_bridge/event_bridge.hpp"
#include "actors/evolution/evolution.hpp"
#include "actors/ingestion/ingestion.hpp"
#include "actors/job_runner/job_runner.hpp"
#include "actors/job_runner/noop.hpp"
#include "actors/jobs/jobs_api.hpp"
#include "actors/scheduler/scheduler.hpp"
#include "actors/playbooks/playbooks.hpp"
#include "actors/system/system.hpp"
#include "actors/usage/usage.hpp"
#include "actors/voter/voter.hpp"
#include "gateway/gateway.hpp"
#include "gateway/mcp.hpp"
#include "gateway/http_server.hpp"
#include "runtime/crypto.hpp"
#include "runtime/embedded_postgres.hpp"
#include "runtime/listener.hpp"
#include "runtime/log.hpp"
#include "runtime/migrations.hpp"
#include "runtime/password_hasher.hpp"
#include "runtime/outbox.hpp"
#include "runtime/store.hpp"

#include <algorithm>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace troupe::app {

#ifndef TROUPE_VERSION
#define TROUPE_VERSION "0.0.0-dev"
#endif
const char* const troupe_version = TROUPE_VERSION;

namespace {

struct listen_address {
  std::string host;
  unsigned short port;
};

listen_address split_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  auto host = listen.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, static_cast<unsigned short>(std::stoi(listen.substr(colon + 1)))};
}

// server.actor_threads; 0 is one per core, and never fewer than two, so an
// actor busy for a while (an evolution's reflection) leaves one for the rest.
std::size_t actor_threads(int configured) {
  if (configured > 0)
    return static_cast<std::size_t>(configured);
  return std::max(2u, std::thread::hardware_concurrency());
}

std::string make_node_id() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string{host} + "-" + crypto::random_hex(3);
}

void write_file_atomically(const std::filesystem::path& path, const std::string& content) {
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << content;
  }
  std::filesystem::rename(tmp, path);
}

// A secret kept in a file (`key` names the setting in messages): its
// content without the trailing newline, at least `min_bytes` long.
std::string read_secret_file(const char* key, const std::string& path, std::size_t min_bytes) {
  std::ifstream in{path};
  if (!in)
    throw std::runtime_error(std::string(key) + ": cannot read " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  auto secret = buf.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
    secret.pop_back();
  if (secret.size() < min_bytes)
    throw std::runtime_error(std::string(key) + ": the secret must be at least " +
                             std::to_string(min_bytes) + " bytes");
  return secret;
}

} // namespace

runtime::session_limits session_limits_from(const config::settings& s) {
  return {.statement_ms = s.database.statement_timeout_ms,
          .idle_in_transaction_ms = s.database.idle_in_transaction_timeout_ms};
}

database_handle open_database(const config::settings& s, bool fsync) {
  if (!s.database.url.empty())
    return {s.database.url, nullptr};
  runtime::embedded_postgres_options opts;
  opts.data_dir = s.database.data_dir;
  opts.fsync = fsync;
  auto pg = std::make_shared<runtime::embedded_postgres>(opts);
  pg->start();
  return {pg->connection_string(), pg};
}

std::string resolve_jwt_secret(const config::settings& s, const std::string& conninfo) {
  if (!s.auth.jwt_secret.empty())
    return s.auth.jwt_secret;
  if (!s.auth.jwt_secret_file.empty())
    return read_secret_file("auth.jwt_secret_file", s.auth.jwt_secret_file, 32);
  pqxx::connection conn{conninfo};
  pqxx::work tx{conn};
  tx.exec_params("INSERT INTO node_settings (key, value) VALUES ('jwt_secret', $1)"
                 " ON CONFLICT (key) DO NOTHING",
                 crypto::base64url_encode(crypto::random_bytes(48)));
  auto secret = tx.exec("SELECT value FROM node_settings WHERE key = 'jwt_secret'")[0][0];
  std::string out = secret.c_str();
  tx.commit();
  return out;
}

evolution::pipeline_config pipeline_config_from(const config::settings& s) {
  const auto& e = s.evolution;
  evolution::pipeline_config p;
  p.curation = {e.dedup_threshold, e.prune_margin, e.max_bullet_chars, e.token_budget,
                e.budget_policy};
  p.voting = {e.completeness_weight, e.efficiency_weight, e.safety_weight, e.vote_threshold,
              e.safety_veto};
  p.max_rounds = e.max_rounds;
  p.min_improvement = e.min_improvement;
  return p;
}

// The model client, when the engine or a critic uses one. Keys come from the
// environment variables llm.api_key_env names; a named variable that is not
// set is a start-up error (an empty api_key_env sends no key).
std::shared_ptr<const evolution::llm_engine> llm_engine_from(const config::settings& s) {
  const auto& e = s.evolution;
  if (e.engine != "llm" && e.completeness_critic != "llm" && e.efficiency_critic != "llm" &&
      e.safety_critic != "llm")
    return nullptr;
  auto urls = config::split_list(s.llm.base_url);
  auto models = config::split_list(s.llm.model);
  auto key_envs = config::split_list(s.llm.api_key_env);
  llm::client_options opts;
  for (std::size_t i = 0; i < urls.size(); ++i) {
    llm::provider p;
    p.name = urls.size() == 1 ? "llm" : "llm" + std::to_string(i + 1);
    p.base_url = urls[i];
    p.model = models.size() == 1 ? models[0] : models.at(i);
    if (!key_envs.empty()) {
      const auto& var = key_envs.size() == 1 ? key_envs[0] : key_envs.at(i);
      const char* key = std::getenv(var.c_str());
      if (!key)
        throw std::runtime_error("llm.api_key_env names " + var +
                                 ", which is not set in the environment");
      p.api_key = key;
    }
    opts.providers.push_back(std::move(p));
  }
  opts.max_retries = s.llm.max_retries;
  opts.timeout = std::chrono::milliseconds{s.llm.timeout_ms};
  opts.backoff_base = std::chrono::milliseconds{s.llm.backoff_base_ms};
  opts.backoff_max = std::chrono::milliseconds{s.llm.backoff_max_ms};
  opts.max_concurrency = s.llm.max_concurrency;
  auto engine = std::make_shared<evolution::llm_engine>();
  engine->client = llm::make_openai_client(std::move(opts));
  engine->max_retries = s.llm.max_retries;
  engine->max_concurrency = s.llm.max_concurrency;
  engine->max_tokens = s.llm.max_tokens;
  engine->prompt_price_per_million = s.llm.prompt_price_per_million;
  engine->completion_price_per_million = s.llm.completion_price_per_million;
  return engine;
}

evolution::evolution_options evolution_options_from(const config::settings& s,
                                                    caf::actor_system& sys) {
  evolution::evolution_options o;
  o.max_outcomes_per_job = s.evolution.max_outcomes_per_job;
  o.max_attempts = s.jobs.max_attempts;
  o.pipeline = pipeline_config_from(s);
  auto engine = llm_engine_from(s);
  auto critic_engine = [&](const std::string& kind) {
    return kind == "llm" ? engine : nullptr;
  };
  if (s.evolution.engine == "llm")
    o.engine = engine;
  o.completeness =
      evolution::spawn_critic(sys, "completeness", critic_engine(s.evolution.completeness_critic));
  o.efficiency =
      evolution::spawn_critic(sys, "efficiency", critic_engine(s.evolution.efficiency_critic));
  o.safety = evolution::spawn_critic(sys, "safety", critic_engine(s.evolution.safety_critic));
  o.voter = evolution::spawn_voter(sys);
  return o;
}

job_runner::runner_options runner_options_from(const config::settings& s, const std::string& node_id,
                                               caf::actor_system& sys, store_actor store,
                                               const std::string& credentials_key) {
  job_runner::runner_options o;
  o.node_id = node_id;
  o.lease_s = s.jobs.lease_s;
  o.heartbeat = std::chrono::milliseconds{s.jobs.heartbeat_ms};
  o.poll_interval = std::chrono::milliseconds{s.jobs.poll_interval_ms};
  o.claim_batch = s.jobs.claim_batch;
  o.complete_batch = s.jobs.complete_batch;
  o.backoff_base = std::chrono::milliseconds{s.jobs.backoff_base_ms};
  o.backoff_max = std::chrono::milliseconds{s.jobs.backoff_max_ms};
  o.drain_grace = std::chrono::seconds{s.server.shutdown_grace_s};
  auto eo = evolution_options_from(s, sys);
  // Critiques ask the same critics and voter as evolutions.
  critique::critique_panel panel{eo.completeness, eo.efficiency, eo.safety, eo.voter};
  o.kinds.push_back({"evolution", s.jobs.evolution_concurrency, s.jobs.evolution_max_run_time_s,
                     evolution::spawn_evolution(sys, store, std::move(eo))});
  o.kinds.push_back({"critique", s.jobs.critique_concurrency, s.jobs.critique_max_run_time_s,
                     critique::spawn_critique_executor(sys, store, std::move(panel))});
  o.kinds.push_back(
      {"repository_analysis", s.jobs.repository_analysis_concurrency,
       s.jobs.repository_analysis_max_run_time_s,
       analyzer::spawn_analyzer(sys, store, analyzer::analyzer_options_from(s, credentials_key))});
  if (s.jobs.enable_noop)
    o.kinds.push_back({"noop", s.jobs.noop_concurrency, s.jobs.noop_max_run_time_s,
                       job_runner::spawn_noop(sys)});
  return o;
}

const char* role_name(node_role r) {
  switch (r) {
  case node_role::gateway:
    return "gateway";
  case node_role::worker:
    return "worker";
  case node_role::serve:
    break;
  }
  return "serve";
}

// The cluster secret: cluster.secret, cluster.secret_file, or none.
std::string resolve_cluster_secret(const config::cluster_settings& c) {
  if (c.secret_file.empty())
    return c.secret;
  return read_secret_file("cluster.secret_file", c.secret_file, 16);
}

// CAF's OpenSSL module raises inside its I/O thread when a file cannot be
// loaded: find that out here, with a message naming the key.
void check_tls_files(const config::cluster_settings& c) {
  for (auto [key, path] : {std::pair{"cluster.certificate", &c.certificate},
                           std::pair{"cluster.key", &c.key}, std::pair{"cluster.ca", &c.ca}}) {
    std::ifstream in{*path};
    std::string first;
    std::getline(in, first);
    if (!in || first.rfind("-----BEGIN", 0) != 0)
      throw std::runtime_error(std::string(key) + ": " + *path + " is not a readable PEM file");
  }
}

struct node::impl {
  config::settings settings;
  node_role role = node_role::serve;
  std::string address;
  std::string cluster_address;
  std::string conninfo;
  std::shared_ptr<void> database;
  system_endpoints::node_info info;
  std::unique_ptr<gateway::http_server> http;
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::vector<caf::actor> actors;
  job_runner_actor runner;
  node_peer_actor link; // a worker's link to its gateways
  std::shared_ptr<std::atomic<bool>> admitted = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<cluster::peer_links> peers = std::make_shared<cluster::peer_links>();
  std::shared_ptr<cluster::gateway_links> gateways = std::make_shared<cluster::gateway_links>();
  std::function<void()> release_bridge;
  std::unique_ptr<runtime::notification_listener> listener;
  bool running = false;

  bool serves_api() const { return role != node_role::worker; }
  bool runs_jobs() const { return role != node_role::gateway && settings.jobs.run_jobs; }
  bool publishes() const { return serves_api() && !settings.cluster.listen.empty(); }
  bool tls() const { return !settings.cluster.certificate.empty(); }

  scheduler::node_registration registration() const {
    return {info.node_id, role_name(role), address, cluster_address, troupe_version};
  }

  void unregister_node() {
    try {
      pqxx::connection conn{conninfo};
      scheduler::unregister_node(conn, info.node_id);
    } catch (const std::exception& e) {
      log::warn("could not remove the node from the registry", {{"error", e.what()}});
    }
  }
};

node::node(config::settings s, node_role role) : impl_(std::make_unique<impl>()) {
  impl_->settings = std::move(s);
  impl_->role = role;
  impl_->info.node_id = make_node_id();
  impl_->info.version = troupe_version;
  impl_->info.node_stale_s = impl_->settings.cluster.node_timeout_s;
}

node::~node() {
  try {
    drain();
  } catch (...) {
    // A destructor must not throw; drain() logs its own failures.
  }
}

std::string node::start() {
  auto& m = *impl_;
  const auto& s = m.settings;
  crypto::init();
  auto cluster_secret = resolve_cluster_secret(s.cluster);
  if (m.tls())
    check_tls_files(s.cluster);
  if (m.role == node_role::worker && config::split_list(s.cluster.join).empty())
    log::warn("this worker joins no gateway (cluster.join is empty): it runs jobs from the "
              "database, found by polling and NOTIFY");
  auto db = open_database(s);
  m.conninfo = db.connection_string;
  m.database = db.keep_alive;
  {
    auto conn = runtime::open_connection(m.conninfo, session_limits_from(s));
    auto r = runtime::migrate(*conn);
    if (r.to != r.from)
      log::info("database migrated", {{"from", r.from}, {"to", r.to}});
  }
  auto secret = m.serves_api() ? resolve_jwt_secret(s, m.conninfo) : std::string{};
  std::string credentials_key;
  {
    // In the registry before the first claim (its addresses follow once bound).
    auto conn = runtime::open_connection(m.conninfo, session_limits_from(s));
    scheduler::heartbeat_node(*conn, m.registration());
    credentials_key = analyzer::resolve_credentials_key(s, *conn);
  }
  if (m.runs_jobs()) // what a crashed analysis left behind, before any job runs
    analyzer::sweep_scratch(analyzer::analyzer_options_from(s, "").scratch_root);

  m.cfg = std::make_unique<caf::actor_system_config>();
  // CAF's default is at least four threads: on a two-core machine the extra
  // two only poll and switch (B1: 16.1k against 17.2k outcomes/s, 4 us more
  // of troupe's CPU per outcome; docs/performance.md).
  m.cfg->set("scheduler.max-threads", actor_threads(s.server.actor_threads));
  register_message_types(*m.cfg);
  bool clustered = m.publishes() || m.role == node_role::worker;
  if (clustered) {
    m.cfg->load<caf::io::middleman>();
    // BASP may otherwise connect nodes that learn of each other through a
    // handle: a worker talks to the gateways it joined, and to nothing else.
    m.cfg->set("middleman.enable-automatic-connections", false);
    if (m.tls()) {
      m.cfg->load<caf::openssl::manager>();
      m.cfg->openssl_certificate = s.cluster.certificate;
      m.cfg->openssl_key = s.cluster.key;
      m.cfg->openssl_cafile = s.cluster.ca;
    }
  }
  m.sys = std::make_unique<caf::actor_system>(*m.cfg);
  auto& sys = *m.sys;

  gateway::register_statements();
  accounts::register_statements();
  playbooks::register_statements();
  ingestion::register_statements();
  // The store wakes the event bridge (here, or the gateways' over the
  // cluster link) after each task that wrote events, and nudges job runners
  // (here, and the joined workers') after each that made jobs runnable. The
  // bridge and runner are spawned after the store: their handles are filled
  // in below.
  struct wake_slots {
    std::mutex mutex;
    event_bridge_actor bridge;
    job_runner_actor runner;
  };
  auto slots = std::make_shared<wake_slots>();
  runtime::store_options so;
  auto gateways = m.gateways;
  auto peers = m.peers;
  so.on_events_written = [slots, gateways] {
    {
      std::lock_guard guard{slots->mutex};
      if (slots->bridge)
        caf::anon_send(slots->bridge, tail_atom::value);
    }
    gateways->send_all(tail_atom::value);
  };
  so.on_jobs_enqueued = [slots, peers] {
    {
      std::lock_guard guard{slots->mutex};
      if (slots->runner)
        caf::anon_send(slots->runner, wake_atom::value);
    }
    peers->send_all(wake_atom::value);
  };
  so.connection_string = m.conninfo;
  so.pool_size = s.database.pool_size;
  so.limits = session_limits_from(s);
  so.reconnect_max_backoff_ms = s.database.reconnect_max_backoff_ms;
  auto store = runtime::spawn_store(sys, so);
  m.actors.push_back(caf::actor_cast<caf::actor>(store));
  auto system = system_endpoints::spawn_system(sys, store, m.info);
  m.actors.push_back(caf::actor_cast<caf::actor>(system));

  std::vector<runtime::channel_handler> channels;
  if (m.runs_jobs()) {
    auto ro = runner_options_from(s, m.info.node_id, sys, store, credentials_key);
    if (m.role == node_role::worker)
      ro.admitted = m.admitted; // the cluster link decides (cluster.cpp, update_admission)
    m.runner = job_runner::spawn_runner(sys, store, std::move(ro));
    auto runner = m.runner;
    channels.push_back({runtime::jobs_channel, [runner](const std::string&, bool) {
                          caf::anon_send(runner, wake_atom::value);
                        }});
    m.actors.push_back(caf::actor_cast<caf::actor>(m.runner));
    std::lock_guard guard{slots->mutex};
    slots->runner = m.runner;
  }

  gateway::gateway_bridge bridge;
  event_bridge_actor events;
  if (m.serves_api()) {
    auto cache = std::make_shared<auth::credential_cache>(
        std::chrono::milliseconds{s.auth.cache_ttl_ms});
    // A key revoked on any node (or by `troupe admin`) reaches this cache
    // through Postgres at once; cache_ttl_ms bounds what a lost
    // notification costs.
    channels.push_back({runtime::auth_channel, [cache](const std::string& user_id, bool missed) {
                          if (missed)
                            cache->clear();
                          else
                            cache->invalidate_user(user_id);
                        }});
    auto verifier = gateway::spawn_verifier(sys, store, secret, cache);
    auto hasher = runtime::spawn_password_hasher(
        sys, {s.auth.password_hash_threads, s.auth.password_hash_queue});
    accounts::accounts_options ao{.allow_registration = s.auth.allow_registration,
                                  .jwt_secret = secret,
                                  .access_token_ttl_s = s.auth.access_token_ttl_s,
                                  .refresh_token_ttl_s = s.auth.refresh_token_ttl_s,
                                  .login_attempts_per_email = s.auth.login_attempts_per_email,
                                  .login_attempts_per_address = s.auth.login_attempts_per_address,
                                  .requests_per_minute = s.rate_limit.requests_per_minute};
    gateway::gateway_targets targets{
        system,
        accounts::spawn_accounts(sys, store, hasher, cache, ao),
        playbooks::spawn_playbooks(sys, store, s.playbooks),
        ingestion::spawn_ingestion(sys, store,
                                   {.outcomes = s.outcomes,
                                    .playbooks = s.playbooks,
                                    .max_attempts = s.jobs.max_attempts}),
        jobs::spawn_jobs_api(sys, store,
                             {.max_attempts = s.jobs.max_attempts,
                              .manual_triggers_per_hour = s.evolution.manual_triggers_per_hour}),
        critique::spawn_critique_api(sys, store, critique::options_from(s)),
        analyzer::spawn_projects_api(sys, store,
                                     analyzer::projects_options_from(s, credentials_key)),
        usage::spawn_usage_api(sys, store),
        verifier,
        {},
        {}};
    targets.ingestion_direct = ingestion::direct_handle(targets.ingestion);
    targets.mcp = gateway::spawn_mcp(sys,
                                     {targets.playbooks, targets.ingestion, targets.jobs,
                                      targets.projects},
                                     {troupe_version, config::split_list(s.mcp.allowed_origins)});
    event_bridge::bridge_options bo;
    bo.poll_interval = std::chrono::milliseconds{s.events.poll_interval_ms};
    // One read is offered to a subscriber at once: keep it well inside its buffer.
    bo.batch = std::clamp(s.events.subscriber_buffer / 2, 8, 2000);
    bo.buffer = static_cast<std::size_t>(s.events.subscriber_buffer);
    bo.stall_timeout = std::chrono::milliseconds{s.events.stall_timeout_ms};
    events = event_bridge::spawn_event_bridge(sys, store, bo);
    {
      std::lock_guard guard{slots->mutex};
      slots->bridge = events;
    }
    bridge = gateway::make_bridge(
        sys, targets, secret, cache, troupe_version,
        {.requests_per_minute = s.rate_limit.requests_per_minute,
         .max_credentials = static_cast<std::size_t>(s.rate_limit.max_tracked_credentials)});
    for (auto a : {caf::actor_cast<caf::actor>(verifier), caf::actor_cast<caf::actor>(hasher),
                   caf::actor_cast<caf::actor>(targets.accounts),
                   caf::actor_cast<caf::actor>(targets.playbooks),
                   caf::actor_cast<caf::actor>(targets.ingestion),
                   caf::actor_cast<caf::actor>(targets.jobs),
                   caf::actor_cast<caf::actor>(targets.critiques),
                   caf::actor_cast<caf::actor>(targets.projects),
                   caf::actor_cast<caf::actor>(targets.usage), caf::actor_cast<caf::actor>(targets.mcp),
                   caf::actor_cast<caf::actor>(events)})
      m.actors.push_back(a);
  } else {
    bridge = gateway::make_health_bridge(sys, system, troupe_version);
  }
  m.release_bridge = bridge.release;
  m.actors.push_back(bridge.actor);
  if (!channels.empty())
    m.listener = std::make_unique<runtime::notification_listener>(m.conninfo, std::move(channels));

  auto listen = split_listen(s.server.listen);
  gateway::http_server_options ho;
  ho.host = listen.host;
  ho.port = listen.port;
  ho.io_threads = s.server.io_threads;
  ho.max_body_bytes = static_cast<std::size_t>(s.server.max_body_bytes);
  ho.large_body_bytes = static_cast<std::size_t>(s.playbooks.max_import_bytes);
  ho.max_large_bodies = static_cast<std::size_t>(s.server.max_large_bodies);
  ho.max_header_bytes = static_cast<std::size_t>(s.server.max_header_bytes);
  ho.idle_timeout = std::chrono::seconds{s.server.idle_timeout_s};
  ho.request_timeout = std::chrono::milliseconds{s.server.request_timeout_ms};
  ho.max_connections = static_cast<std::size_t>(s.server.max_connections);
  ho.trusted_proxies = config::split_list(s.server.trusted_proxies);
  ho.max_streams = static_cast<std::size_t>(s.events.max_streams);
  ho.max_streams_per_user = static_cast<std::size_t>(s.events.max_streams_per_user);
  ho.ws_max_message_bytes = static_cast<std::size_t>(s.events.ws_max_message_bytes);
  ho.stream_buffer_events = static_cast<std::size_t>(s.events.subscriber_buffer);
  ho.stream_heartbeat = std::chrono::seconds{s.events.heartbeat_s};
  if (events) {
    ho.on_stream = [events](const subscription& sub, sink_ptr sink) {
      caf::anon_send(events, subscribe_atom::value, sub, std::move(sink));
    };
    ho.on_stream_closed = [events](sink_ptr sink) {
      caf::anon_send(events, unsubscribe_atom::value, std::move(sink));
    };
  }
  m.http = std::make_unique<gateway::http_server>(ho, bridge.dispatch);
  m.address = m.http->start();

  std::filesystem::create_directories(s.database.data_dir);
  const std::filesystem::path data_dir{s.database.data_dir};
  auto heartbeat_interval = std::chrono::milliseconds{s.cluster.heartbeat_interval_ms};
  if (m.publishes()) {
    auto cluster = cluster::spawn_gateway(
        sys,
        {.node_id = m.info.node_id,
         .secret = cluster_secret,
         .heartbeat_interval = heartbeat_interval,
         .node_timeout = std::chrono::seconds{s.cluster.node_timeout_s},
         .store = store,
         .bridge = events},
        m.peers);
    m.actors.push_back(caf::actor_cast<caf::actor>(cluster));
    try {
      m.cluster_address = cluster::publish(sys, cluster, s.cluster.listen, m.tls());
    } catch (const std::exception& e) {
      // A gateway exists to be joined; an all-in-one serve still serves.
      if (m.role == node_role::gateway)
        throw;
      log::warn("workers cannot join this node: its cluster port is not open (set "
                "cluster.listen to a free address, or \"\" to publish nothing)",
                {{"error", e.what()}});
    }
    if (!m.cluster_address.empty()) {
      if (!s.cluster.advertise.empty())
        m.cluster_address = s.cluster.advertise;
      write_file_atomically(data_dir / "cluster.addr", m.cluster_address + "\n");
      log::info("the cluster actor is published",
                {{"cluster_address", m.cluster_address}, {"tls", m.tls()},
                 {"secret", !cluster_secret.empty()}});
    }
  }
  if (m.role == node_role::worker) {
    m.link = cluster::spawn_worker_link(sys,
                                        {.node_id = m.info.node_id,
                                         .role = "worker",
                                         .version = troupe_version,
                                         .secret = cluster_secret,
                                         .join = config::split_list(s.cluster.join),
                                         .heartbeat_interval = heartbeat_interval,
                                         .tls = m.tls(),
                                         .runner = m.runner,
                                         .admitted = m.admitted},
                                        m.gateways);
    m.actors.push_back(caf::actor_cast<caf::actor>(m.link));
  }

  {
    auto conn = runtime::open_connection(m.conninfo, session_limits_from(s));
    scheduler::heartbeat_node(*conn, m.registration());
  }
  scheduler::scheduler_options sched{
      .connection_string = m.conninfo,
      .limits = session_limits_from(s),
      .node = m.registration(),
      .may_lead = m.role != node_role::worker,
      .heartbeat_interval_ms = s.cluster.heartbeat_interval_ms,
      .node_timeout_s = s.cluster.node_timeout_s,
      .interval_ms = s.jobs.maintenance_interval_ms,
      .max_attempts = s.jobs.max_attempts,
      .failure_cooldown_s = s.evolution.failure_cooldown_s,
      .max_staleness_s = s.evolution.max_staleness_s,
      .jobs_retention_days = s.jobs.retention_days,
      .events_retention_days = s.events.retention_days,
      .prune_batch = s.jobs.prune_batch,
  };
  m.actors.push_back(caf::actor_cast<caf::actor>(scheduler::spawn_scheduler(sys, sched)));
  m.running = true;
  // A worker may share the data directory (and embedded Postgres) of a
  // gateway on the same machine: it keeps its own address file.
  write_file_atomically(data_dir / (m.serves_api() ? "listen.addr" : "worker.addr"),
                        m.address + "\n");
  log::info(m.serves_api() ? "troupe is serving" : "troupe worker is running",
            {{"address", "http://" + m.address},
             {"role", role_name(m.role)},
             {"node_id", m.info.node_id},
             {"version", troupe_version}});
  return m.address;
}

void node::drain() {
  auto& m = *impl_;
  // Also reached after a failed start(): then only the parts that exist are
  // stopped, in the same order.
  bool was_serving = m.running;
  m.running = false;
  m.info.draining->store(true);
  if (m.http && was_serving) {
    log::info("draining: no new connections; waiting for requests in flight");
    m.http->stop_accepting();
    if (!m.http->wait_idle(std::chrono::seconds{m.settings.server.shutdown_grace_s}))
      log::warn("shutdown grace ran out with requests still in flight",
                {{"in_flight", m.http->in_flight()}});
  }
  if (m.http)
    m.http->stop(); // io threads joined: no responder runs from here on
  m.listener.reset();
  // Gateways stop nudging this node; workers stop being nudged.
  cluster::leave(m.link, *m.gateways);
  m.link = nullptr;
  m.peers->clear();
  if (m.sys && m.runner && was_serving) {
    // Running jobs reach a step boundary and finish or give their leases back.
    caf::scoped_actor self{*m.sys};
    self->request(m.runner, std::chrono::seconds{m.settings.server.shutdown_grace_s + 5},
                  drain_atom::value)
        .receive([](bool) {},
                 [](caf::error& e) {
                   log::warn("job runner did not drain in time", {{"error", caf::to_string(e)}});
                 });
  }
  for (auto& a : m.actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  m.actors.clear();
  m.runner = nullptr;
  if (m.release_bridge)
    m.release_bridge(); // the dispatcher's handle must not outlive the actor system
  m.release_bridge = nullptr;
  m.sys.reset();
  m.http.reset();
  if (was_serving) {
    m.unregister_node();
    log::info("troupe stopped");
  }
  m.database.reset();
}

const std::string& node::address() const { return impl_->address; }
const std::string& node::cluster_address() const { return impl_->cluster_address; }
const std::string& node::node_id() const { return impl_->info.node_id; }
const std::string& node::connection_string() const { return impl_->conninfo; }

} // namespace troupe::app
