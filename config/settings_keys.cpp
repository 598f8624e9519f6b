// The key registry: every setting's name, type, range or allowed values,
// check and description, described exactly once; and the lookups by name.
#include "config/settings.hpp"

#include "config/settings_internal.hpp"
#include "text/ascii.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace troupe::config {

using namespace settings_internal; // key_spec and its kinds (settings_internal.hpp)

namespace {

// ---------------------------------------------------------------------------
// The key registry. Every key is described exactly once here; loading from
// TOML, environment and flags, and both TOML renderings walk this table.

template <auto Section, auto Field>
using field_t = std::remove_cvref_t<decltype(std::declval<settings&>().*Section.*Field)>;

template <auto Section, auto Field>
value get_field(const settings& s) {
  using T = field_t<Section, Field>;
  const T& field = s.*Section.*Field;
  if constexpr (std::is_same_v<T, std::string>)
    return value{std::in_place_type<std::string>, field};
  else if constexpr (std::is_same_v<T, bool>)
    return value{std::in_place_type<bool>, field};
  else if constexpr (std::is_same_v<T, double>)
    return value{std::in_place_type<double>, field};
  else
    return value{std::in_place_type<std::int64_t>, static_cast<std::int64_t>(field)};
}

template <auto Section, auto Field>
void set_field(settings& s, const value& v) {
  using T = field_t<Section, Field>;
  T& field = s.*Section.*Field;
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool> ||
                std::is_same_v<T, double>)
    field = std::get<T>(v);
  else
    field = static_cast<T>(std::get<std::int64_t>(v)); // range-checked before, so it fits
}

template <auto Section, auto Field>
constexpr key_spec int_key(std::string_view name, std::int64_t min, std::int64_t max,
                           std::string_view description) {
  using T = field_t<Section, Field>;
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  // A range the field cannot hold would let a validated value overflow it.
  // The registry is constexpr, so this throw is a compile error, not a runtime one.
  if (min > max || min < std::numeric_limits<T>::min() || max > std::numeric_limits<T>::max())
    throw std::logic_error("integer key range does not fit its field");
  return {.name = name,
          .type = kind::integer,
          .get = &get_field<Section, Field>,
          .set = &set_field<Section, Field>,
          .min = min,
          .max = max,
          .description = description};
}

template <auto Section, auto Field>
constexpr key_spec number_key(std::string_view name, double min, double max,
                              std::string_view description) {
  static_assert(std::is_same_v<field_t<Section, Field>, double>);
  // Written so that NaN bounds fail too; a compile error, as for int_key.
  constexpr double largest = std::numeric_limits<double>::max();
  if (!(min <= max && min >= -largest && max <= largest))
    throw std::logic_error("number key range is not a finite interval");
  return {.name = name,
          .type = kind::number,
          .get = &get_field<Section, Field>,
          .set = &set_field<Section, Field>,
          .number_min = min,
          .number_max = max,
          .description = description};
}

template <auto Section, auto Field>
constexpr key_spec bool_key(std::string_view name, std::string_view description) {
  static_assert(std::is_same_v<field_t<Section, Field>, bool>);
  return {.name = name,
          .type = kind::boolean,
          .get = &get_field<Section, Field>,
          .set = &set_field<Section, Field>,
          .description = description};
}

template <auto Section, auto Field>
constexpr key_spec string_key(std::string_view name, std::string_view description,
                              check_fn check = nullptr, secrecy secret = secrecy::none) {
  static_assert(std::is_same_v<field_t<Section, Field>, std::string>);
  return {.name = name,
          .type = kind::string,
          .get = &get_field<Section, Field>,
          .set = &set_field<Section, Field>,
          .check = check,
          .secret = secret,
          .description = description};
}

template <auto Section, auto Field>
constexpr key_spec enum_key(std::string_view name, std::string_view allowed,
                            std::string_view description) {
  key_spec spec = string_key<Section, Field>(name, description);
  spec.allowed = allowed;
  return spec;
}

std::optional<std::string> check_listen(const std::string& text);
std::optional<std::string> check_ip_list(const std::string& text);
std::optional<std::string> check_database_url(const std::string& text);
std::optional<std::string> check_llm_urls(const std::string& text);
std::optional<std::string> check_optional_listen(const std::string& text);
std::optional<std::string> check_join_list(const std::string& text);
std::optional<std::string> check_origin_list(const std::string& text);
std::optional<std::string> check_local_roots(const std::string& text);
std::optional<std::string> check_credentials_key(const std::string& text);

using S = settings;
using srv = server_settings;
using db = database_settings;
using au = auth_settings;
using rl = rate_limit_settings;
using pb = playbooks_settings;
using lg = log_settings;
using oc = outcomes_settings;
using jb = jobs_settings;
using ev = evolution_settings;
using evt = events_settings;
using cq = critique_settings;
using ra = repository_analyzer_settings;
using lm = llm_settings;
using cl = cluster_settings;
using mc = mcp_settings;

constexpr std::int64_t day_s = 24 * 3600;

constexpr std::array registry{
    string_key<&S::server, &srv::listen>(
        "server.listen",
        "Address to listen on as HOST:PORT (HOST: IPv4, localhost or [IPv6]); port 0 picks a "
        "free port",
        &check_listen),
    int_key<&S::server, &srv::io_threads>("server.io_threads", 1, 64,
                                          "Threads running the HTTP server's network I/O"),
    int_key<&S::server, &srv::actor_threads>(
        "server.actor_threads", 0, 64,
        "Threads running the node's actors (CAF's scheduler); 0 is one per core"),
    int_key<&S::server, &srv::max_body_bytes>(
        "server.max_body_bytes", 1024, 64 << 20,
        "Largest accepted request body in bytes; larger requests are answered 413"),
    int_key<&S::server, &srv::max_header_bytes>(
        "server.max_header_bytes", 1024, 1 << 20,
        "Largest accepted request header block in bytes; larger requests are answered 413"),
    int_key<&S::server, &srv::max_large_bodies>(
        "server.max_large_bodies", 1, 1024,
        "Request bodies larger than server.max_body_bytes (playbook imports, up to "
        "playbooks.max_import_bytes) a node receives at once; one more is answered 503"),
    int_key<&S::server, &srv::request_timeout_ms>(
        "server.request_timeout_ms", 100, 600000,
        "Milliseconds to wait for a request's reply before answering 503"),
    int_key<&S::server, &srv::idle_timeout_s>(
        "server.idle_timeout_s", 1, 3600,
        "Seconds a keep-alive connection may stay idle before it is closed"),
    int_key<&S::server, &srv::shutdown_grace_s>(
        "server.shutdown_grace_s", 0, 600,
        "Seconds a shutdown waits for in-flight requests to finish"),
    int_key<&S::server, &srv::max_connections>(
        "server.max_connections", 1, 10000000,
        "Open client connections (event streams included) beyond which a new one is answered "
        "503 and closed"),
    string_key<&S::server, &srv::trusted_proxies>(
        "server.trusted_proxies",
        "Comma-separated IP addresses of reverse proxies whose X-Forwarded-For names the client "
        "(for per-address limits); empty trusts none",
        &check_ip_list),

    string_key<&S::database, &db::url>(
        "database.url",
        "PostgreSQL URL or key=value connection string; empty runs an embedded Postgres in "
        "data_dir",
        &check_database_url, secrecy::password),
    string_key<&S::database, &db::data_dir>(
        "database.data_dir", "Directory holding the embedded Postgres and its listen.addr file"),
    int_key<&S::database, &db::pool_size>("database.pool_size", 1, 256,
                                          "Number of database connections kept open"),
    int_key<&S::database, &db::statement_timeout_ms>(
        "database.statement_timeout_ms", 0, 3600000,
        "Milliseconds a single statement may run; 0 means no limit"),
    int_key<&S::database, &db::idle_in_transaction_timeout_ms>(
        "database.idle_in_transaction_timeout_ms", 0, 3600000,
        "Milliseconds a session may sit idle inside a transaction before Postgres ends it, "
        "releasing its locks (a stopped or stalled node cannot hold rows others wait on); "
        "0 means no limit"),
    int_key<&S::database, &db::reconnect_max_backoff_ms>(
        "database.reconnect_max_backoff_ms", 10, 600000,
        "Longest delay between reconnect attempts, in milliseconds"),

    bool_key<&S::auth, &au::allow_registration>("auth.allow_registration",
                                                "Whether new users may register themselves"),
    string_key<&S::auth, &au::jwt_secret>(
        "auth.jwt_secret",
        "Secret that signs tokens; if it and jwt_secret_file are empty, one is generated once and "
        "kept in the database, shared by every node",
        nullptr, secrecy::whole),
    string_key<&S::auth, &au::jwt_secret_file>(
        "auth.jwt_secret_file", "File to read the token signing secret from, instead of jwt_secret"),
    int_key<&S::auth, &au::access_token_ttl_s>("auth.access_token_ttl_s", 60, 30 * day_s,
                                               "Lifetime of access tokens, in seconds"),
    int_key<&S::auth, &au::refresh_token_ttl_s>("auth.refresh_token_ttl_s", 60, 365 * day_s,
                                                "Lifetime of refresh tokens, in seconds"),
    int_key<&S::auth, &au::cache_ttl_ms>("auth.cache_ttl_ms", 0, 600000,
                                         "Milliseconds a checked credential stays cached"),
    int_key<&S::auth, &au::password_hash_threads>(
        "auth.password_hash_threads", 1, 64,
        "Threads hashing and checking passwords (argon2id, about 64 MiB each)"),
    int_key<&S::auth, &au::password_hash_queue>(
        "auth.password_hash_queue", 0, 100000,
        "Sign-ins that may wait for a hashing thread; more at once are answered 503"),
    int_key<&S::auth, &au::login_attempts_per_email>(
        "auth.login_attempts_per_email", 1, 1000000,
        "Sign-in attempts per email in a sliding minute; more are answered 429"),
    int_key<&S::auth, &au::login_attempts_per_address>(
        "auth.login_attempts_per_address", 1, 1000000,
        "Sign-in, registration and refresh attempts per client address in a sliding minute; more "
        "are answered 429"),

    int_key<&S::rate_limit, &rl::requests_per_minute>(
        "rate_limit.requests_per_minute", 0, 10000000,
        "Requests per credential in a sliding minute, counted by each gateway (an API key's own "
        "limit wins); more are answered 429. 0 means no limit"),
    int_key<&S::rate_limit, &rl::max_tracked_credentials>(
        "rate_limit.max_tracked_credentials", 1, 10000000,
        "Credentials whose counts a gateway keeps; beyond, the least recently seen is forgotten "
        "(it gets a fresh allowance)"),

    int_key<&S::playbooks, &pb::default_evolution_threshold>(
        "playbooks.default_evolution_threshold", 1, 1000000,
        "Evolution threshold given to playbooks created without one"),
    int_key<&S::playbooks, &pb::max_content_bytes>("playbooks.max_content_bytes", 1024, 64 << 20,
                                                   "Largest accepted playbook content, in bytes"),
    int_key<&S::playbooks, &pb::max_name_chars>("playbooks.max_name_chars", 1, 10000,
                                                "Longest accepted playbook name, in characters"),
    int_key<&S::playbooks, &pb::max_description_chars>(
        "playbooks.max_description_chars", 0, 100000,
        "Longest accepted playbook description, in characters"),
    int_key<&S::playbooks, &pb::context_cache_mb>(
        "playbooks.context_cache_mb", 1, 65536,
        "Memory for the relevance indexes of playbook versions (task-relevant context), in MiB; "
        "the least recently used index is dropped beyond"),
    int_key<&S::playbooks, &pb::max_import_bytes>(
        "playbooks.max_import_bytes", 1 << 20, 1 << 30,
        "Largest playbook import body in bytes (413 above), and largest export document (422 "
        "above)"),

    int_key<&S::outcomes, &oc::max_task_description_bytes>(
        "outcomes.max_task_description_bytes", 1, 1 << 20,
        "Longest accepted task_description of an outcome, in bytes"),
    int_key<&S::outcomes, &oc::max_notes_bytes>("outcomes.max_notes_bytes", 0, 1 << 20,
                                                "Longest accepted notes of an outcome, in bytes"),
    int_key<&S::outcomes, &oc::max_reasoning_trace_bytes>(
        "outcomes.max_reasoning_trace_bytes", 0, 16 << 20,
        "Longest accepted reasoning_trace of an outcome, in bytes"),
    int_key<&S::outcomes, &oc::max_bullet_ids>("outcomes.max_bullet_ids", 0, 100000,
                                               "Most bullet_ids one outcome may name"),
    int_key<&S::outcomes, &oc::max_metadata_bytes>(
        "outcomes.max_metadata_bytes", 2, 1 << 20,
        "Largest accepted metadata object of an outcome, serialised, in bytes"),
    int_key<&S::outcomes, &oc::max_batch>(
        "outcomes.max_batch", 1, 10000, "Most outcomes written by one group-commit transaction"),
    int_key<&S::outcomes, &oc::batch_delay_us>(
        "outcomes.batch_delay_us", 0, 1000000,
        "Microseconds an idle ingestion actor waits to gather a batch; 0 writes at once"),

    bool_key<&S::jobs, &jb::run_jobs>(
        "jobs.run_jobs", "Whether this node runs jobs; a node that does not still queues them"),
    int_key<&S::jobs, &jb::lease_s>("jobs.lease_s", 2, 3600,
                                    "Seconds a job lease lasts unless renewed"),
    int_key<&S::jobs, &jb::heartbeat_ms>("jobs.heartbeat_ms", 100, 600000,
                                         "Milliseconds between lease renewals"),
    int_key<&S::jobs, &jb::poll_interval_ms>(
        "jobs.poll_interval_ms", 10, 600000,
        "Milliseconds between claims when no notification arrives"),
    int_key<&S::jobs, &jb::claim_batch>("jobs.claim_batch", 1, 10000,
                                        "Most jobs taken by one claim statement"),
    int_key<&S::jobs, &jb::complete_batch>(
        "jobs.complete_batch", 1, 100000,
        "Most effect-free job completions written by one statement"),
    int_key<&S::jobs, &jb::max_attempts>("jobs.max_attempts", 1, 100,
                                         "Attempts a job gets before it fails for good"),
    int_key<&S::jobs, &jb::backoff_base_ms>(
        "jobs.backoff_base_ms", 1, 3600000,
        "Delay before the first retry, in milliseconds; doubles with each attempt"),
    int_key<&S::jobs, &jb::backoff_max_ms>("jobs.backoff_max_ms", 1, 86400000,
                                           "Longest delay before a retry, in milliseconds"),
    int_key<&S::jobs, &jb::evolution_max_run_time_s>(
        "jobs.evolution_max_run_time_s", 1, 86400,
        "Seconds one evolution attempt may run before it is stopped and counted as failed"),
    int_key<&S::jobs, &jb::noop_max_run_time_s>(
        "jobs.noop_max_run_time_s", 1, 86400,
        "Seconds one noop attempt may run before it is stopped and counted as failed"),
    int_key<&S::jobs, &jb::evolution_concurrency>(
        "jobs.evolution_concurrency", 1, 1024, "Evolution jobs one node runs at the same time"),
    int_key<&S::jobs, &jb::critique_concurrency>(
        "jobs.critique_concurrency", 1, 1024, "Critique jobs one node runs at the same time"),
    int_key<&S::jobs, &jb::critique_max_run_time_s>(
        "jobs.critique_max_run_time_s", 1, 86400,
        "Seconds one critique attempt may run before it is stopped and counted as failed"),
    int_key<&S::jobs, &jb::repository_analysis_concurrency>(
        "jobs.repository_analysis_concurrency", 1, 256,
        "Repository analyses one node runs at the same time (each clones into its data "
        "directory)"),
    int_key<&S::jobs, &jb::repository_analysis_max_run_time_s>(
        "jobs.repository_analysis_max_run_time_s", 1, 86400,
        "Seconds one repository analysis attempt may run (fetch included) before it is stopped "
        "and counted as failed"),
    int_key<&S::jobs, &jb::noop_concurrency>("jobs.noop_concurrency", 1, 100000,
                                             "Noop jobs one node runs at the same time"),
    bool_key<&S::jobs, &jb::enable_noop>(
        "jobs.enable_noop", "Whether this node runs noop jobs, the kind that measures the engine"),
    int_key<&S::jobs, &jb::retention_days>(
        "jobs.retention_days", 1, 3650,
        "Days completed and cancelled jobs are kept before they are pruned"),
    int_key<&S::jobs, &jb::prune_batch>("jobs.prune_batch", 1, 100000,
                                        "Rows deleted by one pruning statement"),
    int_key<&S::jobs, &jb::maintenance_interval_ms>(
        "jobs.maintenance_interval_ms", 10, 3600000,
        "Milliseconds between maintenance passes (lease rescue, sweeps, pruning)"),

    int_key<&S::evolution, &ev::max_outcomes_per_job>(
        "evolution.max_outcomes_per_job", 1, 100000,
        "Most pending outcomes one evolution job processes, oldest first"),
    int_key<&S::evolution, &ev::max_staleness_s>(
        "evolution.max_staleness_s", 0, 365 * day_s,
        "Evolve a playbook with pending outcomes whose last evolution is older than this many "
        "seconds; 0 never does"),
    int_key<&S::evolution, &ev::failure_cooldown_s>(
        "evolution.failure_cooldown_s", 0, day_s,
        "Seconds after a failed evolution before the threshold sweep queues another "
        "for the same playbook"),
    int_key<&S::evolution, &ev::manual_triggers_per_hour>(
        "evolution.manual_triggers_per_hour", 0, 1000000,
        "Manual evolution triggers allowed per playbook per hour"),
    enum_key<&S::evolution, &ev::engine>(
        "evolution.engine", "builtin|llm",
        "Reflector and curator: builtin rules, or an OpenAI-compatible model ([llm])"),
    number_key<&S::evolution, &ev::dedup_threshold>(
        "evolution.dedup_threshold", 0.01, 1,
        "Similarity (Jaccard of words and word pairs) at or above which two bullets are "
        "near-duplicates"),
    int_key<&S::evolution, &ev::prune_margin>(
        "evolution.prune_margin", 0, 1000,
        "A bullet is deleted when its harmful count is at least 2 and at least helpful + this"),
    int_key<&S::evolution, &ev::max_bullet_chars>(
        "evolution.max_bullet_chars", 20, 10000,
        "Longest bullet content in characters; longer content is shortened on revision"),
    int_key<&S::evolution, &ev::token_budget>(
        "evolution.token_budget", 100, 10000000,
        "Largest estimated token count of an evolved playbook version"),
    enum_key<&S::evolution, &ev::budget_policy>(
        "evolution.budget_policy", "prune|reject",
        "Over the token budget: prune removes the least useful bullets, reject keeps the "
        "previous content"),
    number_key<&S::evolution, &ev::vote_threshold>(
        "evolution.vote_threshold", 0, 1,
        "Weighted critic score at or above which an operation is accepted"),
    number_key<&S::evolution, &ev::completeness_weight>(
        "evolution.completeness_weight", 0, 1,
        "Weight of the completeness critic's vote; the three weights must sum to 1"),
    number_key<&S::evolution, &ev::efficiency_weight>(
        "evolution.efficiency_weight", 0, 1,
        "Weight of the efficiency critic's vote; the three weights must sum to 1"),
    number_key<&S::evolution, &ev::safety_weight>(
        "evolution.safety_weight", 0, 1,
        "Weight of the safety critic's vote; the three weights must sum to 1"),
    bool_key<&S::evolution, &ev::safety_veto>(
        "evolution.safety_veto",
        "Whether a critical safety vote of 0 rejects an operation regardless of its score"),
    int_key<&S::evolution, &ev::max_rounds>("evolution.max_rounds", 1, 20,
                                            "Critique and vote rounds one evolution job runs"),
    number_key<&S::evolution, &ev::min_improvement>(
        "evolution.min_improvement", 0, 1,
        "Rounds stop when the mean critic score improves by less than this"),
    enum_key<&S::evolution, &ev::completeness_critic>(
        "evolution.completeness_critic", "builtin|llm",
        "The completeness critic: builtin rules, or the model of [llm]"),
    enum_key<&S::evolution, &ev::efficiency_critic>(
        "evolution.efficiency_critic", "builtin|llm",
        "The efficiency critic: builtin rules, or the model of [llm]"),
    enum_key<&S::evolution, &ev::safety_critic>(
        "evolution.safety_critic", "builtin|llm",
        "The safety critic: builtin rules, or the model of [llm]"),

    int_key<&S::critique, &cq::max_iterations>(
        "critique.max_iterations", 1, 10,
        "Critique iterations for requests that do not give max_iterations"),

    string_key<&S::repository_analyzer, &ra::allowed_local_roots>(
        "repository_analyzer.allowed_local_roots",
        "Comma-separated directories under which a project's repository_url may be a local path "
        "or file:// URL (after resolving .. and symlinks); empty allows no local repository",
        &check_local_roots),
    int_key<&S::repository_analyzer, &ra::max_bytes>(
        "repository_analyzer.max_bytes", 1 << 20, 1ll << 40,
        "Bytes a repository fetch may receive; past it the fetch is aborted and the job fails"),
    int_key<&S::repository_analyzer, &ra::max_files>(
        "repository_analyzer.max_files", 1, 10000000,
        "Files a checkout may hold; past it the analysis stops and the job fails"),
    int_key<&S::repository_analyzer, &ra::max_file_bytes>(
        "repository_analyzer.max_file_bytes", 1024, 1 << 30,
        "Files larger than this are counted but not read"),
    int_key<&S::repository_analyzer, &ra::history_commits>(
        "repository_analyzer.history_commits", 1, 1000000,
        "Newest commits whose changed files are counted for the map's most-changed files"),
    string_key<&S::repository_analyzer, &ra::credentials_key>(
        "repository_analyzer.credentials_key",
        "Base64 of 32 bytes that seals credentials given in repository URLs; empty generates one "
        "once and keeps it in the database",
        &check_credentials_key, secrecy::whole),

    string_key<&S::llm, &lm::base_url>(
        "llm.base_url",
        "Chat-completions base URL(s), comma-separated, tried in order (\"/chat/completions\" "
        "is appended)",
        &check_llm_urls),
    string_key<&S::llm, &lm::model>(
        "llm.model", "Model name, or one per base_url, comma-separated"),
    string_key<&S::llm, &lm::api_key_env>(
        "llm.api_key_env",
        "Environment variable holding the API key (or one per base_url, comma-separated); empty "
        "sends no key"),
    int_key<&S::llm, &lm::max_retries>(
        "llm.max_retries", 0, 10,
        "Retries per provider on 429, 5xx and time-outs; also the invalid answers a step "
        "tolerates before it falls back to the builtin rules"),
    int_key<&S::llm, &lm::max_concurrency>("llm.max_concurrency", 1, 256,
                                           "Model calls in flight at once on this node"),
    int_key<&S::llm, &lm::timeout_ms>("llm.timeout_ms", 100, 600000,
                                      "Time limit of one model call in milliseconds"),
    int_key<&S::llm, &lm::backoff_base_ms>("llm.backoff_base_ms", 1, 600000,
                                           "First retry delay in milliseconds; doubles per retry"),
    int_key<&S::llm, &lm::backoff_max_ms>("llm.backoff_max_ms", 1, 3600000,
                                          "Cap of the retry delay (and of Retry-After)"),
    int_key<&S::llm, &lm::max_tokens>("llm.max_tokens", 16, 200000,
                                      "Completion tokens asked for per call"),
    number_key<&S::llm, &lm::prompt_price_per_million>(
        "llm.prompt_price_per_million", 0, 1e6, "USD per million prompt tokens, for usage records"),
    number_key<&S::llm, &lm::completion_price_per_million>(
        "llm.completion_price_per_million", 0, 1e6,
        "USD per million completion tokens, for usage records"),

    int_key<&S::events, &evt::retention_days>("events.retention_days", 1, 3650,
                                              "Days events are kept for replay before pruning"),
    int_key<&S::events, &evt::poll_interval_ms>(
        "events.poll_interval_ms", 10, 60000,
        "The event bridge reads the event log at least this often (events of this node wake "
        "it at once)"),
    int_key<&S::events, &evt::subscriber_buffer>(
        "events.subscriber_buffer", 16, 10000000,
        "Events queued for one stream subscriber; one further behind catches up from the log"),
    int_key<&S::events, &evt::stall_timeout_ms>(
        "events.stall_timeout_ms", 100, 3600000,
        "A subscriber whose full queue has not moved for this long is disconnected"),
    int_key<&S::events, &evt::heartbeat_s>("events.heartbeat_s", 1, 3600,
                                           "Seconds between heartbeats on an idle event stream"),
    int_key<&S::events, &evt::max_streams>("events.max_streams", 1, 10000000,
                                           "Open event streams a node holds; more are answered 503"),
    int_key<&S::events, &evt::max_streams_per_user>(
        "events.max_streams_per_user", 1, 10000000,
        "Open event streams of one user on a node; more are answered 429"),
    int_key<&S::events, &evt::ws_max_message_bytes>(
        "events.ws_max_message_bytes", 125, 1 << 20,
        "Largest message a WebSocket client may send (clients send only control frames); a "
        "larger one closes the stream with code 1009"),

    string_key<&S::cluster, &cl::listen>(
        "cluster.listen",
        "Where serve and gateway publish the cluster actor, as HOST:PORT (port 0 picks one, "
        "written to <data_dir>/cluster.addr); empty publishes nothing. Anything but loopback "
        "needs the TLS files",
        &check_optional_listen),
    string_key<&S::cluster, &cl::advertise>(
        "cluster.advertise",
        "The HOST:PORT workers are told to reach this gateway's cluster actor at (e.g. a pod "
        "IP); empty advertises the bound address (the host name when bound to 0.0.0.0)",
        &check_join_list),
    string_key<&S::cluster, &cl::join>(
        "cluster.join",
        "A worker's gateways, as comma-separated HOST:PORT cluster addresses (also --join); "
        "the gateways name the others once joined",
        &check_join_list),
    string_key<&S::cluster, &cl::secret>(
        "cluster.secret",
        "Shared secret every node proves in the join handshake (an HMAC over a fresh nonce; "
        "the secret never crosses the wire); at least 16 bytes",
        nullptr, secrecy::whole),
    string_key<&S::cluster, &cl::secret_file>(
        "cluster.secret_file", "File to read the cluster secret from, instead of cluster.secret"),
    string_key<&S::cluster, &cl::certificate>(
        "cluster.certificate",
        "PEM certificate (chain) of this node; with key and ca, the link is mutual TLS"),
    string_key<&S::cluster, &cl::key>("cluster.key", "PEM private key of cluster.certificate"),
    string_key<&S::cluster, &cl::ca>(
        "cluster.ca", "PEM CA certificates a peer's certificate must chain to"),
    int_key<&S::cluster, &cl::heartbeat_interval_ms>(
        "cluster.heartbeat_interval_ms", 100, 600000,
        "A node refreshes its registry row and greets its gateways this often"),
    int_key<&S::cluster, &cl::node_timeout_s>(
        "cluster.node_timeout_s", 1, 86400,
        "A node whose heartbeat is older than this is gone: node.left, and its leases are "
        "rescued"),

    string_key<&S::mcp, &mc::allowed_origins>(
        "mcp.allowed_origins",
        "Web origins (scheme://host[:port], comma-separated) whose pages may call /mcp; besides "
        "them only loopback origins sent to a loopback Host are served, any other Origin is "
        "answered 403 (requests without an Origin are served)",
        &check_origin_list),

    enum_key<&S::log, &lg::level>("log.level", "trace|debug|info|warn|error",
                                  "Least severe level that is logged"),
    enum_key<&S::log, &lg::format>("log.format", "json|text", "Format of log lines"),
};

// The renderers open a TOML table when the section changes, so a section split
// across the registry would produce a duplicate table; a repeated name would
// make one key shadow another.
consteval bool registry_is_well_formed() {
  for (std::size_t i = 0; i < registry.size(); ++i) {
    if (registry[i].name.find('.') == std::string_view::npos)
      return false;
    for (std::size_t j = i + 1; j < registry.size(); ++j)
      if (registry[i].name == registry[j].name)
        return false;
    // Where a section starts, no key before it may be of that section.
    // (Only at section starts: clang's constexpr step limit is near.)
    auto section = section_of(registry[i].name);
    if (i > 0 && section != section_of(registry[i - 1].name))
      for (std::size_t k = 0; k + 1 < i; ++k)
        if (section_of(registry[k].name) == section)
          return false;
  }
  return true;
}
static_assert(registry_is_well_formed());

using troupe::text::upper;

std::string env_name_of(const key_spec& spec) {
  return std::string(env_prefix) + upper(section_of(spec.name)) + "_" + upper(leaf_of(spec.name));
}

} // namespace

std::span<const key_spec> settings_internal::keys() { return registry; }

const key_spec* settings_internal::find_key(std::string_view name) {
  for (const auto& spec : registry)
    if (spec.name == name)
      return &spec;
  return nullptr;
}

const key_spec* settings_internal::find_env_key(std::string_view variable) {
  for (const auto& spec : registry)
    if (env_name_of(spec) == variable)
      return &spec;
  return nullptr;
}

bool settings_internal::is_section(std::string_view name) {
  return std::any_of(registry.begin(), registry.end(),
                     [&](const key_spec& spec) { return section_of(spec.name) == name; });
}

// ---------------------------------------------------------------------------
// Checks of single values, named by the registry.

bool settings_internal::is_postgres_url(std::string_view text) {
  return text.starts_with("postgres://") || text.starts_with("postgresql://");
}

namespace {

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool is_port(std::string_view text) {
  if (!all_digits(text) || text.size() > 5)
    return false;
  int port = 0;
  std::from_chars(text.data(), text.data() + text.size(), port);
  return port <= 65535;
}

bool is_ip(int family, std::string_view text) {
  std::array<unsigned char, 16> buffer{};
  return inet_pton(family, std::string(text).c_str(), buffer.data()) == 1;
}

bool is_listen_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    return is_ip(AF_INET6, host.substr(1, host.size() - 2));
  return host == "localhost" || is_ip(AF_INET, host);
}

std::optional<std::string> check_listen(const std::string& text) {
  // The last colon separates the port, so a bracketed IPv6 host keeps its own colons;
  // an unbracketed IPv6 host is rejected by is_listen_host.
  auto colon = text.rfind(':');
  if (colon != std::string::npos && is_listen_host(std::string_view(text).substr(0, colon)) &&
      is_port(std::string_view(text).substr(colon + 1)))
    return std::nullopt;
  return "\"" + text +
         "\" is not HOST:PORT (HOST an IPv4 address, localhost or [IPv6]; PORT 0..65535)";
}

std::optional<std::string> check_optional_listen(const std::string& text) {
  return text.empty() ? std::nullopt : check_listen(text);
}

// HOST:PORT entries where HOST may also be a DNS name (a service in a
// container network); the port must be 1..65535.
std::optional<std::string> check_join_list(const std::string& text) {
  for (const auto& entry : split_list(text)) {
    auto colon = entry.rfind(':');
    bool ok = colon != std::string::npos && colon > 0 &&
              is_port(std::string_view(entry).substr(colon + 1)) &&
              entry.substr(colon + 1) != "0";
    if (ok) {
      auto host = std::string_view(entry).substr(0, colon);
      ok = (host.front() == '[' && host.back() == ']')
               ? is_ip(AF_INET6, host.substr(1, host.size() - 2))
               : std::all_of(host.begin(), host.end(), [](unsigned char c) {
                   return std::isalnum(c) || c == '.' || c == '-' || c == '_';
                 });
    }
    if (!ok)
      return "\"" + entry + "\" is not HOST:PORT (HOST a name, an IPv4 address or [IPv6]; PORT 1..65535)";
  }
  return std::nullopt;
}

std::optional<std::string> check_origin_list(const std::string& text) {
  for (const auto& entry : split_list(text)) {
    auto scheme = entry.find("://");
    bool ok = scheme != std::string::npos && scheme > 0 && scheme + 3 < entry.size() &&
              std::all_of(entry.begin(), entry.begin() + static_cast<std::ptrdiff_t>(scheme),
                          [](unsigned char c) { return std::isalnum(c) || c == '+' || c == '-' || c == '.'; }) &&
              std::all_of(entry.begin() + static_cast<std::ptrdiff_t>(scheme + 3), entry.end(),
                          [](unsigned char c) {
                            return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' ||
                                   c == '[' || c == ']';
                          });
    if (!ok)
      return "\"" + entry + "\" is not an origin (scheme://host[:port], no path)";
  }
  return std::nullopt;
}

// Absolute directories; whether they exist is the analyzer's business (a
// root that does not exist allows nothing).
std::optional<std::string> check_local_roots(const std::string& text) {
  for (const auto& entry : split_list(text))
    if (entry.empty() || entry.front() != '/')
      return "\"" + entry + "\" is not an absolute directory";
  return std::nullopt;
}

// Base64 (standard alphabet, padded) of exactly 32 bytes: 44 characters.
std::optional<std::string> check_credentials_key(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  auto is_b64 = [](unsigned char c) { return std::isalnum(c) || c == '+' || c == '/'; };
  bool ok = text.size() == 44 && text[43] == '=' && text[42] != '=' &&
            std::all_of(text.begin(), text.begin() + 43, is_b64) &&
            std::string_view{"AEIMQUYcgkosw048"}.find(text[42]) != std::string_view::npos;
  if (!ok)
    return "must be the base64 of 32 bytes (44 characters ending in '='), e.g. from "
           "`openssl rand -base64 32`";
  return std::nullopt;
}

std::optional<std::string> check_ip_list(const std::string& text) {
  for (const auto& entry : split_list(text))
    if (!is_ip(AF_INET, entry) && !is_ip(AF_INET6, entry))
      return "every entry must be an IPv4 or IPv6 address";
  return std::nullopt;
}

std::optional<std::string> check_llm_urls(const std::string& text) {
  for (const auto& url : split_list(text))
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
      return "every base URL must start with http:// or https://";
  return std::nullopt;
}

std::optional<std::string> check_database_url(const std::string& text) {
  if (text.empty() || is_postgres_url(text) || text.find('=') != std::string::npos)
    return std::nullopt;
  return "expected empty, a postgres:// or postgresql:// URL, or a key=value connection string";
}

} // namespace

} // namespace troupe::config
