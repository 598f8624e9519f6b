#include "config/settings.hpp"

#include "text/ascii.hpp"
#include "text/utf8.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <variant>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <type_traits>

#include <toml++/toml.h>

extern char** environ;

namespace troupe::config {
namespace {

// ---------------------------------------------------------------------------
// The key registry. Every key is described exactly once here; loading from
// TOML, environment and flags, and both TOML renderings walk this table.

using value = std::variant<std::string, std::int64_t, bool, double>;

// `number` is a finite double; TOML integers are accepted for it.
enum class kind { string, integer, boolean, number };

// `password` keeps a connection string readable while hiding its password.
enum class secrecy { none, whole, password };

// Returns a problem description, or nothing if the value is acceptable.
// Messages must not echo the value: they are also used for secret keys.
using check_fn = std::optional<std::string> (*)(const std::string&);

// Built by the *_key helpers below with designated initializers; every member
// has a default so a helper names only what its kind uses.
struct key_spec {
  std::string_view name{};        // "section.key"
  kind type = kind::string;
  value (*get)(const settings&) = nullptr;
  void (*set)(settings&, const value&) = nullptr;
  std::int64_t min = 0;           // integers only
  std::int64_t max = 0;
  double number_min = 0;          // numbers only
  double number_max = 0;
  std::string_view allowed{};     // "a|b|c" for enumerations, empty otherwise
  check_fn check = nullptr;
  secrecy secret = secrecy::none;
  std::string_view description{}; // one line, without range or default
};

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

using S = settings;
using srv = server_settings;
using db = database_settings;
using au = auth_settings;
using pb = playbooks_settings;
using lg = log_settings;
using oc = outcomes_settings;
using jb = jobs_settings;
using ev = evolution_settings;
using evt = events_settings;
using cq = critique_settings;
using lm = llm_settings;

constexpr std::int64_t day_s = 24 * 3600;

constexpr std::array registry{
    string_key<&S::server, &srv::listen>(
        "server.listen",
        "Address to listen on as HOST:PORT (HOST: IPv4, localhost or [IPv6]); port 0 picks a "
        "free port",
        &check_listen),
    int_key<&S::server, &srv::io_threads>("server.io_threads", 1, 64,
                                          "Threads running the HTTP server's network I/O"),
    int_key<&S::server, &srv::max_body_bytes>(
        "server.max_body_bytes", 1024, 64 << 20,
        "Largest accepted request body in bytes; larger requests are answered 413"),
    int_key<&S::server, &srv::max_header_bytes>(
        "server.max_header_bytes", 1024, 1 << 20,
        "Largest accepted request header block in bytes; larger requests are answered 413"),
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

    enum_key<&S::log, &lg::level>("log.level", "trace|debug|info|warn|error",
                                  "Least severe level that is logged"),
    enum_key<&S::log, &lg::format>("log.format", "json|text", "Format of log lines"),
};

constexpr std::string_view section_of(std::string_view name) {
  return name.substr(0, name.find('.'));
}

// The renderers open a TOML table when the section changes, so a section split
// across the registry would produce a duplicate table; a repeated name would
// make one key shadow another.
consteval bool registry_is_well_formed() {
  for (std::size_t i = 0; i < registry.size(); ++i) {
    if (registry[i].name.find('.') == std::string_view::npos)
      return false;
    for (std::size_t j = i + 1; j < registry.size(); ++j) {
      if (registry[i].name == registry[j].name)
        return false;
      bool split = j > i + 1 && section_of(registry[j].name) == section_of(registry[i].name) &&
                   section_of(registry[j - 1].name) != section_of(registry[i].name);
      if (split)
        return false;
    }
  }
  return true;
}
static_assert(registry_is_well_formed());

constexpr std::string_view env_prefix = "TROUPE_";

std::string_view leaf_of(std::string_view name) { return name.substr(name.find('.') + 1); }

using troupe::text::lower;
using troupe::text::upper;

std::string env_name_of(const key_spec& spec) {
  return std::string(env_prefix) + upper(section_of(spec.name)) + "_" + upper(leaf_of(spec.name));
}

const key_spec* find_key(std::string_view name) {
  for (const auto& spec : registry)
    if (spec.name == name)
      return &spec;
  return nullptr;
}

const key_spec* find_env_key(std::string_view variable) {
  for (const auto& spec : registry)
    if (env_name_of(spec) == variable)
      return &spec;
  return nullptr;
}

bool is_section(std::string_view name) {
  return std::any_of(registry.begin(), registry.end(),
                     [&](const key_spec& spec) { return section_of(spec.name) == name; });
}

// ---------------------------------------------------------------------------
// Validation.

std::string kind_name(kind k) {
  switch (k) {
  case kind::string: return "string";
  case kind::integer: return "integer";
  case kind::boolean: return "boolean";
  case kind::number: return "number";
  }
  return "value";
}

// The shortest text that reads back as exactly `x` ("0.8", "1", "1e-05", "nan").
std::string shortest(double x) {
  std::array<char, 32> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), x);
  return ec == std::errc{} ? std::string(buffer.data(), end) : std::to_string(x);
}

std::string range_text(const key_spec& spec) {
  if (spec.type == kind::number)
    return shortest(spec.number_min) + ".." + shortest(spec.number_max);
  return std::to_string(spec.min) + ".." + std::to_string(spec.max);
}

bool is_allowed(std::string_view allowed, std::string_view candidate) {
  while (true) {
    auto bar = allowed.find('|');
    if (allowed.substr(0, bar) == candidate)
      return true;
    if (bar == std::string_view::npos)
      return false;
    allowed.remove_prefix(bar + 1);
  }
}

std::optional<std::string> validate(const key_spec& spec, const value& v) {
  if (spec.type == kind::integer) {
    auto n = std::get<std::int64_t>(v);
    if (n < spec.min || n > spec.max)
      return std::to_string(n) + " is out of range " + range_text(spec);
  }
  if (spec.type == kind::number) {
    auto x = std::get<double>(v);
    if (!std::isfinite(x))
      return shortest(x) + " is not a finite number";
    if (x < spec.number_min || x > spec.number_max)
      return shortest(x) + " is out of range " + range_text(spec);
  }
  if (spec.type == kind::string) {
    const auto& text = std::get<std::string>(v);
    // Every value must be printable back as TOML, and no setting is binary.
    // (The value is not echoed: the key may be a secret.)
    if (!troupe::text::valid_utf8(text))
      return std::string{"the value is not valid UTF-8"};
    if (troupe::text::has_control_characters(text))
      return std::string{"the value contains control characters"};
    if (!spec.allowed.empty() && !is_allowed(spec.allowed, text))
      return "\"" + text + "\" is not one of " + std::string(spec.allowed);
    if (spec.check)
      return spec.check(text);
  }
  return std::nullopt;
}

std::optional<std::string> apply(const key_spec& spec, const value& v, settings& s) {
  if (auto problem = validate(spec, v))
    return problem;
  spec.set(s, v);
  return std::nullopt;
}

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

std::optional<std::string> check_ip_list(const std::string& text) {
  for (const auto& entry : split_list(text))
    if (!is_ip(AF_INET, entry) && !is_ip(AF_INET6, entry))
      return "every entry must be an IPv4 or IPv6 address";
  return std::nullopt;
}

bool is_postgres_url(std::string_view text) {
  return text.starts_with("postgres://") || text.starts_with("postgresql://");
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

// ---------------------------------------------------------------------------
// Masking. Only the password is hidden so the rest of a connection string
// stays useful when diagnosing which server a node talks to.

constexpr std::string_view mask = "***";

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// In a URL query ("a=1&password=x"), hides the password parameter's value.
std::string mask_query_password(std::string_view query) {
  std::string out;
  while (true) {
    auto amp = query.find('&');
    auto param = query.substr(0, amp);
    auto eq = param.find('=');
    if (eq != std::string_view::npos && param.substr(0, eq) == "password" && eq + 1 < param.size())
      out += std::string(param.substr(0, eq + 1)) + std::string(mask);
    else
      out += param;
    if (amp == std::string_view::npos)
      return out;
    out += '&';
    query.remove_prefix(amp + 1);
  }
}

std::string mask_url_password(const std::string& url) {
  auto authority = url.find("://") + 3;
  auto query = url.find('?', authority);
  std::string out = url.substr(0, query);
  // The last '@' before the query ends the user info; a password may itself hold '@' or '/'.
  auto at = out.rfind('@');
  if (at != std::string::npos && at > authority) {
    auto colon = out.find(':', authority);
    if (colon < at && colon + 1 < at)
      out.replace(colon + 1, at - colon - 1, mask);
  }
  if (query != std::string::npos)
    out += "?" + mask_query_password(std::string_view(url).substr(query + 1));
  return out;
}

// libpq "key = value" form; values may be single-quoted with backslash escapes.
std::string mask_keyword_password(std::string_view conninfo) {
  std::string out;
  std::size_t i = 0;
  const auto n = conninfo.size();
  auto copy_while = [&](auto pred) {
    auto start = i;
    while (i < n && pred(conninfo[i]))
      ++i;
    out += conninfo.substr(start, i - start);
    return conninfo.substr(start, i - start);
  };
  while (i < n) {
    copy_while(is_space);
    auto keyword = copy_while([](char c) { return c != '=' && !is_space(c); });
    copy_while(is_space);
    if (i >= n || conninfo[i] != '=') {
      out += conninfo.substr(i); // malformed; nothing more can be told apart safely
      return out;
    }
    out += conninfo[i++];
    copy_while(is_space);
    auto start = i;
    if (i < n && conninfo[i] == '\'') {
      for (++i; i < n && conninfo[i] != '\''; ++i)
        if (conninfo[i] == '\\')
          ++i;
      i = std::min(i + 1, n);
    } else {
      while (i < n && !is_space(conninfo[i]))
        ++i;
    }
    if (keyword == "password" && i > start)
      out += mask;
    else
      out += conninfo.substr(start, i - start);
  }
  return out;
}

std::string masked(const key_spec& spec, const std::string& text) {
  if (text.empty())
    return text;
  switch (spec.secret) {
  case secrecy::none: return text;
  case secrecy::whole: return std::string(mask);
  case secrecy::password:
    return is_postgres_url(text) ? mask_url_password(text) : mask_keyword_password(text);
  }
  return std::string(mask);
}

// ---------------------------------------------------------------------------
// Values from text (environment and flags).

struct parsed {
  std::optional<value> v;
  std::string problem;
};

parsed parse_integer(const key_spec& spec, const std::string& text) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc::result_out_of_range)
    return {std::nullopt, text + " is out of range " + range_text(spec)};
  if (ec != std::errc{} || end != text.data() + text.size())
    return {std::nullopt, "\"" + text + "\" is not a decimal integer"};
  return {value{std::in_place_type<std::int64_t>, n}, {}};
}

// The whole text, in decimal (no hex, no leading '+' or whitespace), finite.
parsed parse_number(const key_spec& spec, const std::string& text) {
  double x = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x,
                                   std::chars_format::general);
  if (ec == std::errc::result_out_of_range)
    return {std::nullopt, text + " is out of range " + range_text(spec)};
  if (ec != std::errc{} || end != text.data() + text.size())
    return {std::nullopt, "\"" + text + "\" is not a decimal number"};
  if (!std::isfinite(x))
    return {std::nullopt, "\"" + text + "\" is not a finite number"};
  return {value{std::in_place_type<double>, x}, {}};
}

parsed parse_boolean(const std::string& text) {
  auto word = lower(text);
  if (word == "true" || word == "1" || word == "yes")
    return {value{std::in_place_type<bool>, true}, {}};
  if (word == "false" || word == "0" || word == "no")
    return {value{std::in_place_type<bool>, false}, {}};
  return {std::nullopt, "\"" + text + "\" is not a boolean (true/false/1/0/yes/no)"};
}

parsed parse_text(const key_spec& spec, const std::string& text) {
  switch (spec.type) {
  case kind::integer: return parse_integer(spec, text);
  case kind::boolean: return parse_boolean(text);
  case kind::number: return parse_number(spec, text);
  case kind::string: break;
  }
  return {value{std::in_place_type<std::string>, text}, {}};
}

std::optional<std::string> apply_text(const key_spec& spec, const std::string& text,
                                      settings& s) {
  auto p = parse_text(spec, text);
  if (!p.v)
    return p.problem;
  return apply(spec, *p.v, s);
}

bool is_reserved_env(std::string_view name) {
  return name == "TROUPE_CONFIG" || name.starts_with("TROUPE_TEST_");
}

std::optional<std::string> apply_env(const std::map<std::string, std::string>& env,
                                     settings& s) {
  for (const auto& [name, text] : env) {
    if (!name.starts_with(env_prefix) || is_reserved_env(name))
      continue;
    const key_spec* spec = find_env_key(name);
    if (!spec)
      return "unknown environment variable " + name + " (no setting is named by it)";
    if (auto problem = apply_text(*spec, text, s))
      return "environment variable " + name + " (" + std::string(spec->name) + "): " + *problem;
  }
  return std::nullopt;
}

std::optional<std::string> apply_flags(const override_list& flags, settings& s) {
  for (const auto& [name, text] : flags) {
    const key_spec* spec = find_key(name);
    if (!spec)
      return "flag " + name + ": unknown setting";
    if (auto problem = apply_text(*spec, text, s))
      return "flag " + name + ": " + *problem;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Values from TOML.

std::string toml_type_name(toml::node_type type) {
  switch (type) {
  case toml::node_type::string: return "string";
  case toml::node_type::integer: return "integer";
  case toml::node_type::floating_point: return "float";
  case toml::node_type::boolean: return "boolean";
  case toml::node_type::date: return "date";
  case toml::node_type::time: return "time";
  case toml::node_type::date_time: return "date-time";
  case toml::node_type::array: return "array";
  case toml::node_type::table: return "table";
  case toml::node_type::none: break;
  }
  return "nothing";
}

parsed from_node(const key_spec& spec, const toml::node& node) {
  switch (spec.type) {
  case kind::string:
    if (auto* v = node.as_string())
      return {value{std::in_place_type<std::string>, v->get()}, {}};
    break;
  case kind::integer:
    if (auto* v = node.as_integer())
      return {value{std::in_place_type<std::int64_t>, v->get()}, {}};
    break;
  case kind::boolean:
    if (auto* v = node.as_boolean())
      return {value{std::in_place_type<bool>, v->get()}, {}};
    break;
  case kind::number:
    if (auto* v = node.as_floating_point())
      return {value{std::in_place_type<double>, v->get()}, {}};
    if (auto* v = node.as_integer()) // 1 is as good a number as 1.0
      return {value{std::in_place_type<double>, static_cast<double>(v->get())}, {}};
    break;
  }
  return {std::nullopt, "expected " + kind_name(spec.type) + ", got " + toml_type_name(node.type())};
}

struct file_problem {
  toml::source_index line = 0;
  std::string message;
};

// toml++ tables iterate in key order, not file order, so problems are
// collected and the one nearest the top of the file is reported.
class problem_sink {
public:
  explicit problem_sink(std::string origin) : origin_(std::move(origin)) {}

  void add(const toml::source_region& where, const std::string& message) {
    auto line = where.begin.line;
    if (!first_ || line < first_->line)
      first_ = file_problem{line, origin_ + ":" + std::to_string(line) + ": " + message};
  }

  std::optional<std::string> first() const {
    return first_ ? std::optional(first_->message) : std::nullopt;
  }

private:
  std::string origin_;
  std::optional<file_problem> first_;
};

void apply_section(std::string_view section, const toml::table& table, settings& s,
                   problem_sink& problems) {
  for (auto&& [key, node] : table) {
    std::string dotted = std::string(section) + "." + std::string(key.str());
    const key_spec* spec = find_key(dotted);
    if (!spec) {
      problems.add(key.source(), "unknown key '" + dotted + "'");
      continue;
    }
    auto p = from_node(*spec, node);
    auto problem = p.v ? apply(*spec, *p.v, s) : std::optional(p.problem);
    if (problem)
      problems.add(node.source(), dotted + ": " + *problem);
  }
}

std::optional<std::string> apply_toml(std::string_view text, const std::string& origin,
                                      settings& s) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return origin + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
           ": TOML syntax error: " + std::string(e.description());
  }
  problem_sink problems(origin);
  for (auto&& [key, node] : root) {
    auto section = key.str();
    if (!is_section(section))
      problems.add(key.source(), "unknown section '" + std::string(section) + "'");
    else if (auto* table = node.as_table())
      apply_section(section, *table, s, problems);
    else
      problems.add(node.source(), std::string(section) + ": expected a table, got " +
                                      toml_type_name(node.type()));
  }
  return problems.first();
}

// ---------------------------------------------------------------------------
// Rendering.

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\b': out += "\\b"; break;
    case '\t': out += "\\t"; break;
    case '\n': out += "\\n"; break;
    case '\f': out += "\\f"; break;
    case '\r': out += "\\r"; break;
    default:
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        char escape[8];
        std::snprintf(escape, sizeof escape, "\\u%04X", static_cast<unsigned>(c));
        out += escape;
      } else {
        out += c;
      }
    }
  }
  return out + "\"";
}

std::string toml_literal(const value& v) {
  if (auto* text = std::get_if<std::string>(&v))
    return toml_string(*text);
  if (auto* flag = std::get_if<bool>(&v))
    return *flag ? "true" : "false";
  if (auto* x = std::get_if<double>(&v)) {
    // A TOML float needs a fraction or an exponent; "nan" and "inf" are already floats.
    auto text = shortest(*x);
    if (text.find_first_of(".en") == std::string::npos)
      text += ".0";
    return text;
  }
  return std::to_string(std::get<std::int64_t>(v));
}

std::string described(const key_spec& spec) {
  std::string out(spec.description);
  if (spec.type == kind::integer || spec.type == kind::number)
    out += " [" + range_text(spec) + "]";
  if (!spec.allowed.empty())
    out += " [" + std::string(spec.allowed) + "]";
  return out;
}

// Walks the registry in order, opening a TOML table whenever the section
// changes; `line_for(spec, first_in_section)` renders one key.
template <typename LineFor>
std::string render(std::string header, LineFor line_for) {
  std::string out = std::move(header);
  std::string_view current;
  for (const auto& spec : registry) {
    auto section = section_of(spec.name);
    bool first = section != current;
    if (first) {
      out += "\n[" + std::string(section) + "]\n";
      current = section;
    }
    out += line_for(spec, first);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Rules between keys, checked once every source has been applied.

std::optional<std::string> check_vote_weights(const settings& s) {
  const auto& e = s.evolution;
  double sum = e.completeness_weight + e.efficiency_weight + e.safety_weight;
  if (std::abs(sum - 1) <= 0.001)
    return std::nullopt;
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", sum); // 0.9, not 0.8999999999999999
  return std::string("evolution.completeness_weight + efficiency_weight + safety_weight must sum "
                     "to 1, not ") +
         text;
}

// A model is needed as soon as one step uses it, and every list names one
// entry, or one per base_url.
std::optional<std::string> check_llm(const settings& s) {
  const auto& e = s.evolution;
  bool used = e.engine == "llm" || e.completeness_critic == "llm" ||
              e.efficiency_critic == "llm" || e.safety_critic == "llm";
  auto urls = split_list(s.llm.base_url);
  if (used && urls.empty())
    return std::string("llm.base_url must be set when evolution.engine or a critic is \"llm\"");
  for (auto [key, text] : {std::pair{"llm.model", &s.llm.model},
                           std::pair{"llm.api_key_env", &s.llm.api_key_env}}) {
    auto n = split_list(*text).size();
    if (n > 1 && n != urls.size())
      return std::string(key) + " lists " + std::to_string(n) + " entries for " +
             std::to_string(urls.size()) + " base URL(s); give one, or one per base URL";
  }
  if (used && split_list(s.llm.model).empty())
    return std::string("llm.model must be set when evolution.engine or a critic is \"llm\"");
  return std::nullopt;
}

constexpr std::array cross_key_checks{&check_vote_weights, &check_llm};

std::optional<std::string> check_cross_keys(const settings& s) {
  for (auto check : cross_key_checks)
    if (auto problem = check(s))
      return problem;
  return std::nullopt;
}

} // namespace

load_result load_text(const std::string& toml_text, const std::string& origin,
                      const std::map<std::string, std::string>& env,
                      const override_list& flags) {
  settings s;
  auto error = apply_toml(toml_text, origin, s);
  if (!error)
    error = apply_env(env, s);
  if (!error)
    error = apply_flags(flags, s);
  if (!error)
    error = check_cross_keys(s);
  if (error)
    return {std::nullopt, load_error{*error}};
  return {std::move(s), std::nullopt};
}

load_result load(const std::string& file, const std::map<std::string, std::string>& env,
                 const override_list& flags) {
  if (file.empty())
    return load_text("", "(no config file)", env, flags);
  auto fail = [&](const std::string& why) {
    return load_result{std::nullopt, load_error{"config file " + file + ": " + why}};
  };
  std::error_code ec;
  auto status = std::filesystem::status(file, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return fail(ec.message());
  if (!std::filesystem::exists(status))
    return fail("does not exist");
  if (std::filesystem::is_directory(status))
    return fail("is a directory");
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return fail("cannot be opened");
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad())
    return fail("cannot be read");
  return load_text(text, file, env, flags);
}

std::string example_toml() {
  const settings defaults{};
  return render(
      "# Example configuration of a troupe node. Every key is listed with its default\n"
      "# value; remove the ones you do not change.\n"
      "#\n"
      "# Precedence, lowest to highest: built-in defaults, this file, environment\n"
      "# variables TROUPE_<SECTION>_<KEY> (e.g. TROUPE_SERVER_IO_THREADS), command-line\n"
      "# flags.\n",
      [&](const key_spec& spec, bool first_in_section) {
        // Secrets show "" even if a default existed, so the example never carries one.
        auto shown = spec.secret != secrecy::none ? std::string("\"\"")
                                                  : toml_literal(spec.get(defaults));
        return std::string(first_in_section ? "" : "\n") + "# " + described(spec) +
               " (default: " + shown + ")\n" + std::string(leaf_of(spec.name)) + " = " + shown +
               "\n";
      });
}

std::string effective_toml(const settings& s) {
  return render("# Effective troupe configuration; secrets are masked.\n",
                [&](const key_spec& spec, bool) {
                  auto v = spec.get(s);
                  if (auto* text = std::get_if<std::string>(&v))
                    v = masked(spec, *text);
                  return std::string(leaf_of(spec.name)) + " = " + toml_literal(v) + "\n";
                });
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    auto eq = text.find('=');
    if (eq == std::string_view::npos)
      continue;
    // Like getenv(), the first of duplicate entries wins.
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos)
      comma = text.size();
    auto first = text.find_first_not_of(" \t", start);
    auto last = text.find_last_not_of(" \t", comma == 0 ? 0 : comma - 1);
    if (first != std::string::npos && first < comma && last != std::string::npos && last >= first)
      out.push_back(text.substr(first, last - first + 1));
    start = comma + 1;
  }
  return out;
}

} // namespace troupe::config
