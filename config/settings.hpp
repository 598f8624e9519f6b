// Effective configuration of a troupe node.
//
// Values come from, in increasing order of precedence: the defaults below, one
// TOML file, `TROUPE_<SECTION>_<KEY>` environment variables, and command-line
// flags. `load()` validates every key and reports the first problem naming the
// key and, for the file, its line.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace troupe::config {

struct server_settings {
  std::string listen = "127.0.0.1:8080";   // HOST:PORT; port 0 picks a free port
  int io_threads = 2;                      // Beast io threads, 1..64
  int actor_threads = 0;                   // CAF scheduler threads; 0 = one per core
  std::int64_t max_body_bytes = 1 << 20;   // 413 above this, 1 KiB..64 MiB
  std::int64_t max_header_bytes = 16384;   // larger header blocks are answered 413
  int max_large_bodies = 2;                // import bodies (over max_body_bytes) held at once; beyond → 503
  int request_timeout_ms = 30000;          // a domain reply later than this → 503
  int idle_timeout_s = 60;                 // keep-alive connections idle longer are closed
  int shutdown_grace_s = 10;               // how long a drain waits for in-flight requests
  int max_connections = 16384;             // open client connections; beyond → 503 and closed
  std::string trusted_proxies;             // comma-separated IPs whose X-Forwarded-For names the client
};

struct database_settings {
  std::string url;                         // empty → embedded Postgres in data_dir (secret: password masked)
  std::string data_dir = "./troupe-data";  // holds the embedded Postgres and listen.addr
  int pool_size = 8;                       // store connections, 1..256
  int statement_timeout_ms = 5000;         // per statement, 0 = none
  int idle_in_transaction_timeout_ms = 5000; // a session idle inside a transaction is ended, 0 = none
  int reconnect_max_backoff_ms = 5000;     // cap of the reconnect back-off
};

struct auth_settings {
  bool allow_registration = false;
  std::string jwt_secret;                  // secret; empty → generated once and kept in the database
  std::string jwt_secret_file;             // read the secret from this file instead
  int access_token_ttl_s = 1800;
  int refresh_token_ttl_s = 7 * 24 * 3600;
  int cache_ttl_ms = 5000;                 // credential cache lifetime
  int password_hash_threads = 1;           // argon2id hashes computed at once (~64 MiB each)
  int password_hash_queue = 64;            // sign-ins waiting for a hashing thread; beyond → 503
  int login_attempts_per_email = 10;       // per sliding minute; beyond → 429
  int login_attempts_per_address = 30;     // sign-ins, registrations, refreshes per client address and minute
};

// Requests per credential (api.md, Rate limits), counted by each gateway on
// its own (docs/api.md).
struct rate_limit_settings {
  int requests_per_minute = 600;           // per credential and sliding minute; 0 = no limit
  int max_tracked_credentials = 100000;    // counters kept; beyond, the least recent is forgotten
};

struct playbooks_settings {
  int default_evolution_threshold = 5;     // for playbooks created without one, >= 1
  std::int64_t max_content_bytes = 512 * 1024;
  int max_name_chars = 200;
  int max_description_chars = 2000;
  int context_cache_mb = 64;               // relevance indexes of versions kept in memory
  std::int64_t max_import_bytes = 32 << 20; // largest import body, and export document
};

struct outcomes_settings {
  std::int64_t max_task_description_bytes = 10 * 1024;
  std::int64_t max_notes_bytes = 2 * 1024;
  std::int64_t max_reasoning_trace_bytes = 64 * 1024;
  int max_bullet_ids = 200;
  std::int64_t max_metadata_bytes = 16 * 1024;
  int max_batch = 256;     // outcomes written in one group-commit transaction
  int batch_delay_us = 0;  // an idle ingestion actor waits this long to gather a batch
};

struct jobs_settings {
  bool run_jobs = true;             // false: this node queues jobs but runs none
  int lease_s = 30;                 // a lease not renewed for this long may be rescued
  int heartbeat_ms = 5000;          // leases are renewed this often
  int poll_interval_ms = 1000;      // claim even without a NOTIFY this often
  int claim_batch = 1000;           // jobs taken by one claim statement
  int complete_batch = 2000;        // effect-free completions written by one statement
  int max_attempts = 3;
  int backoff_base_ms = 1000;       // first retry delay; doubles per attempt
  int backoff_max_ms = 300000;      // cap of the retry delay
  int evolution_max_run_time_s = 600; // an evolution attempt running longer is stopped and fails
  int noop_max_run_time_s = 600;      // the same for noop jobs
  int evolution_concurrency = 4;    // evolution jobs one node runs at once
  int noop_concurrency = 4096;      // noop jobs one node runs at once
  int critique_concurrency = 8;     // critique jobs one node runs at once
  int critique_max_run_time_s = 600;
  int repository_analysis_concurrency = 2; // repository analyses one node runs at once
  int repository_analysis_max_run_time_s = 900;
  bool enable_noop = false;         // the engine-measuring noop kind
  int retention_days = 30;          // finished jobs older than this are pruned
  int prune_batch = 500;            // rows deleted per pruning statement
  int maintenance_interval_ms = 5000; // scheduler period (rescue, sweeps, pruning)
};

struct evolution_settings {
  int max_outcomes_per_job = 100;
  int max_staleness_s = 24 * 3600;  // evolve a playbook with pending outcomes this stale; 0 = never
  int failure_cooldown_s = 300;     // no sweep re-queues a playbook's failed evolution sooner:
                                    // a playbook that fails every time costs one job per cooldown
  int manual_triggers_per_hour = 10;
  std::string engine = "builtin";   // builtin | llm (reflector and curator)
  double dedup_threshold = 0.8;     // near-duplicate: similarity >= this, 0.01..1
  int prune_margin = 2;             // DELETE when harmful >= helpful + margin (and >= 2), 0..1000
  int max_bullet_chars = 400;       // longer bullet content is shortened, 20..10000
  int token_budget = 8000;          // a version never exceeds this token estimate, 100..10000000
  std::string budget_policy = "prune"; // prune | reject
  double vote_threshold = 0.5;      // accepted when the weighted score >= this, 0..1
  double completeness_weight = 0.4; // the three weights must sum to 1 (within 0.001)
  double efficiency_weight = 0.3;
  double safety_weight = 0.3;
  bool safety_veto = true;          // a critical safety 0.0 rejects regardless of score
  int max_rounds = 3;               // critique/vote rounds per job, 1..20
  double min_improvement = 0.01;    // stop when the mean score improves by less, 0..1
  std::string completeness_critic = "builtin"; // builtin | llm, each critic on its own
  std::string efficiency_critic = "builtin";
  std::string safety_critic = "builtin";
};

// The OpenAI-compatible endpoint(s) the llm engine and llm critics ask.
// base_url, model and api_key_env are comma-separated lists: one entry per
// provider, tried in order (model and api_key_env may give one entry for all).
struct llm_settings {
  std::string base_url;                    // e.g. https://api.openai.com/v1
  std::string model = "gpt-4o-mini";
  std::string api_key_env = "OPENAI_API_KEY"; // environment variable holding the key; "" = none
  int max_retries = 3;                     // HTTP retries per provider, and invalid answers per step
  int max_concurrency = 4;                 // calls in flight per node
  int timeout_ms = 60000;                  // one HTTP call, connect included
  int backoff_base_ms = 500;
  int backoff_max_ms = 10000;
  int max_tokens = 2048;                   // completion tokens asked for per call
  double prompt_price_per_million = 0;     // USD per million prompt tokens
  double completion_price_per_million = 0; // USD per million completion tokens
};

struct critique_settings {
  int max_iterations = 3; // for critique requests that do not say, 1..10
};

// The repository analyzer (docs/analyzer.md).
struct repository_analyzer_settings {
  std::string allowed_local_roots;          // comma-separated directories local repositories may be in
  std::int64_t max_bytes = 512ll << 20;     // a fetch receiving more is aborted
  int max_files = 200000;                   // a checkout with more files is not analysed
  int max_file_bytes = 1 << 20;             // larger files are counted, not read
  int history_commits = 500;                // commits the most-changed files are counted over
  std::string credentials_key;              // base64 of 32 bytes sealing URL credentials; "" = generated
};

struct events_settings {
  int retention_days = 7;
  int poll_interval_ms = 250;       // the bridge reads the log at least this often
  int subscriber_buffer = 10000;    // events queued for one subscriber; beyond → it catches up from the log
  int stall_timeout_ms = 10000;     // a subscriber whose full queue does not move is disconnected
  int heartbeat_s = 15;             // SSE comment / WebSocket ping on an idle stream
  int max_streams = 16384;          // open streams on a node; beyond → 503
  int max_streams_per_user = 256;   // open streams of one user on a node; beyond → 429
  int ws_max_message_bytes = 4096;  // a larger message from a WebSocket client closes it (1009)
};

// The cluster link between nodes (docs/cluster.md).
struct cluster_settings {
  std::string listen = "127.0.0.1:7600";   // where serve/gateway publish the cluster actor; "" = none
  std::string advertise;                   // HOST:PORT other nodes reach the cluster actor at; "" = listen's
  std::string join;                        // worker: gateways' cluster addresses, comma-separated
  std::string secret;                      // secret; proven in the join handshake (HMAC), never sent
  std::string secret_file;                 // read the secret from this file instead
  std::string certificate;                 // PEM certificate chain of this node (mutual TLS)
  std::string key;                         // PEM private key of that certificate
  std::string ca;                          // PEM CA bundle peers' certificates must chain to
  int heartbeat_interval_ms = 2000;        // a node's heartbeat to the database and to its gateways
  int node_timeout_s = 15;                 // a node silent for longer is gone (node.left)
};

// The MCP server on POST /mcp (docs/mcp.md).
struct mcp_settings {
  std::string allowed_origins;             // web origins allowed besides loopback ones, comma-separated
};

struct log_settings {
  std::string level = "info";              // trace|debug|info|warn|error
  std::string format = "json";             // json|text
};

struct settings {
  server_settings server;
  database_settings database;
  auth_settings auth;
  rate_limit_settings rate_limit;
  playbooks_settings playbooks;
  outcomes_settings outcomes;
  jobs_settings jobs;
  evolution_settings evolution;
  critique_settings critique;
  repository_analyzer_settings repository_analyzer;
  llm_settings llm;
  events_settings events;
  cluster_settings cluster;
  mcp_settings mcp;
  log_settings log;
};

// Where a problem was found, and what it is. `message` is complete and names
// the key ("server.io_threads"), and for file problems the file and line.
struct load_error {
  std::string message;
};

struct load_result {
  std::optional<settings> value;   // set on success
  std::optional<load_error> error; // set on failure
};

// A flag override: dotted key ("server.listen") and its textual value.
using override_list = std::vector<std::pair<std::string, std::string>>;

// Builds the effective settings. `file` is a TOML path or empty for none;
// `env` maps environment variable names to values (pass the process
// environment); `flags` override everything. Validates types and ranges; an
// unknown key in the file or an unknown TROUPE_* variable is an error.
load_result load(const std::string& file,
                 const std::map<std::string, std::string>& env,
                 const override_list& flags);

// Same, but from TOML text (`origin` names it in messages). Used by tests and
// by load().
load_result load_text(const std::string& toml_text, const std::string& origin,
                      const std::map<std::string, std::string>& env,
                      const override_list& flags);

// A commented TOML file documenting every key with its default value.
std::string example_toml();

// The effective configuration as TOML, secrets masked as "***".
std::string effective_toml(const settings& s);

// A comma-separated list: entries trimmed of blanks, empty entries dropped.
std::vector<std::string> split_list(const std::string& text);

// The process environment as a map.
std::map<std::string, std::string> process_environment();

} // namespace troupe::config
