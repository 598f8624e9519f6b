#include "runtime/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace troupe::metrics {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// Metrics of one family by label values, looked up under a shared lock: the
// label sets are few and found again on every event, so Family::Add (a
// hash of the label map under a mutex) runs once per set.
template <class M>
class by_labels {
public:
  by_labels(Family<M>& family, std::vector<std::string> names, Histogram::BucketBoundaries b = {})
      : family_(family), names_(std::move(names)), buckets_(std::move(b)) {}

  M& at(std::initializer_list<std::string_view> values) {
    std::string key;
    for (auto v : values) {
      key.append(v);
      key.push_back('\x1f');
    }
    {
      std::shared_lock lock{mutex_};
      if (auto it = cache_.find(key); it != cache_.end())
        return *it->second;
    }
    std::unique_lock lock{mutex_};
    if (auto it = cache_.find(key); it != cache_.end())
      return *it->second;
    prometheus::Labels labels;
    auto v = values.begin();
    for (const auto& n : names_)
      labels[n] = std::string{*v++};
    M* m;
    if constexpr (std::is_same_v<M, Histogram>)
      m = &family_.Add(labels, buckets_);
    else
      m = &family_.Add(labels);
    cache_.emplace(std::move(key), m);
    return *m;
  }

  // Every metric added so far, with its label values joined as in at().
  std::vector<std::pair<std::string, M*>> all() {
    std::shared_lock lock{mutex_};
    return {cache_.begin(), cache_.end()};
  }

private:
  Family<M>& family_;
  std::vector<std::string> names_;
  Histogram::BucketBoundaries buckets_;
  std::shared_mutex mutex_;
  std::unordered_map<std::string, M*> cache_;
};

const Histogram::BucketBoundaries latency_buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                                     5,      10,    30};
const Histogram::BucketBoundaries run_time_buckets = {0.001, 0.005, 0.025, 0.1, 0.5, 1,  2.5,
                                                      5,     10,    30,    60,  120, 300, 900};
const Histogram::BucketBoundaries batch_buckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

template <class B>
auto& family(B builder, const char* name, const char* help, prometheus::Registry& r) {
  return builder.Name(name).Help(help).Register(r);
}

struct instruments {
  prometheus::Registry registry;

  by_labels<Counter> http_requests{
      family(prometheus::BuildCounter(), "troupe_http_requests_total",
             "HTTP requests answered, by route template, method and status", registry),
      {"route", "method", "status"}};
  by_labels<Histogram> http_duration{
      family(prometheus::BuildHistogram(), "troupe_http_request_duration_seconds",
             "Time from a request's last byte read to its response handed to the socket",
             registry),
      {"route", "method"},
      latency_buckets};

  Counter& outcomes = family(prometheus::BuildCounter(), "troupe_outcomes_ingested_total",
                             "Outcomes recorded (replays and refusals excluded)", registry)
                          .Add({});
  Histogram& batch_size =
      family(prometheus::BuildHistogram(), "troupe_ingestion_batch_size",
             "Outcome requests written per ingestion transaction", registry)
          .Add({}, batch_buckets);

  by_labels<Counter> enqueued{family(prometheus::BuildCounter(), "troupe_jobs_enqueued_total",
                                     "Jobs queued", registry),
                              {"kind"}};
  by_labels<Counter> started{family(prometheus::BuildCounter(), "troupe_jobs_started_total",
                                    "Attempts claimed and started on this node", registry),
                             {"kind"}};
  by_labels<Counter> completed{family(prometheus::BuildCounter(), "troupe_jobs_completed_total",
                                      "Jobs completed by this node", registry),
                               {"kind"}};
  by_labels<Counter> failed{family(prometheus::BuildCounter(), "troupe_jobs_failed_total",
                                   "Jobs failed for good (no attempt left or not retryable)",
                                   registry),
                            {"kind"}};
  by_labels<Counter> retried{family(prometheus::BuildCounter(), "troupe_jobs_retried_total",
                                    "Failed attempts queued again with backoff", registry),
                             {"kind"}};
  by_labels<Counter> cancelled{family(prometheus::BuildCounter(), "troupe_jobs_cancelled_total",
                                      "Running jobs stopped by a cancel request", registry),
                               {"kind"}};
  by_labels<Counter> rescued{family(prometheus::BuildCounter(), "troupe_jobs_rescued_total",
                                    "Attempts whose lease expired, taken back by the scheduler",
                                    registry),
                             {"kind"}};
  by_labels<Histogram> run_time{family(prometheus::BuildHistogram(), "troupe_job_run_seconds",
                                       "Run time of an attempt on this node", registry),
                                {"kind"},
                                run_time_buckets};
  by_labels<Gauge> running{family(prometheus::BuildGauge(), "troupe_jobs_running",
                                  "Attempts running on this node", registry),
                           {"kind"}};
  by_labels<Gauge> queue_depth{family(prometheus::BuildGauge(), "troupe_queue_depth",
                                      "Jobs queued in the cluster (read at scrape)", registry),
                               {"kind"}};
  by_labels<Gauge> queue_age{family(prometheus::BuildGauge(), "troupe_queue_oldest_age_seconds",
                                    "Age of the oldest queued job (read at scrape)", registry),
                             {"kind"}};
  Gauge& leases = family(prometheus::BuildGauge(), "troupe_job_leases_active",
                         "Running jobs holding an unexpired lease, cluster-wide", registry)
                      .Add({});
  Gauge& nodes_up = family(prometheus::BuildGauge(), "troupe_nodes_up",
                           "Registered nodes whose heartbeat is fresh", registry)
                        .Add({});
  Gauge& nodes_stale = family(prometheus::BuildGauge(), "troupe_nodes_stale",
                              "Registered nodes whose heartbeat stopped (crashed or cut off)",
                              registry)
                           .Add({});
  Gauge& database_up = family(prometheus::BuildGauge(), "troupe_database_up",
                              "1 when the scrape's database probe succeeded", registry)
                           .Add({});
  Gauge& database_latency =
      family(prometheus::BuildGauge(), "troupe_database_latency_seconds",
             "Round trip of the scrape's database probe", registry)
          .Add({});

  by_labels<Counter> votes{family(prometheus::BuildCounter(), "troupe_critic_votes_total",
                                  "Critic votes on proposed operations", registry),
                           {"perspective", "vote"}};
  by_labels<Counter> decisions{family(prometheus::BuildCounter(), "troupe_voter_decisions_total",
                                      "Voter decisions on proposed operations", registry),
                               {"decision"}};
  Counter& rounds = family(prometheus::BuildCounter(), "troupe_evolution_rounds_total",
                           "Critique rounds run by evolution jobs", registry)
                        .Add({});
  by_labels<Counter> llm_calls{family(prometheus::BuildCounter(), "troupe_llm_calls_total",
                                      "Model answers, by whether they passed validation",
                                      registry),
                               {"operation", "model", "result"}};
  by_labels<Counter> llm_fallbacks{
      family(prometheus::BuildCounter(), "troupe_llm_fallbacks_total",
             "Steps that fell back to the builtin rules", registry),
      {"operation"}};
  by_labels<Counter> llm_tokens{family(prometheus::BuildCounter(), "troupe_llm_tokens_total",
                                       "Tokens reported by the provider", registry),
                                {"model", "type"}};
  by_labels<Counter> llm_cost{family(prometheus::BuildCounter(), "troupe_llm_cost_usd_total",
                                     "Cost of model calls at the configured prices", registry),
                              {"model"}};

  by_labels<Gauge> subscribers{family(prometheus::BuildGauge(), "troupe_event_subscribers",
                                      "Open event streams on this node", registry),
                               {"transport"}};
  by_labels<Counter> delivered{family(prometheus::BuildCounter(), "troupe_events_delivered_total",
                                      "Events written to subscribers", registry),
                               {"transport"}};
  by_labels<Counter> drops{family(prometheus::BuildCounter(),
                                  "troupe_event_subscriber_drops_total",
                                  "Subscribers disconnected for not keeping up", registry),
                           {"reason"}};
  Counter& gap_waits =
      family(prometheus::BuildCounter(), "troupe_event_gap_waits_total",
             "Tail passes of the event bridge that stopped at an id whose transaction may "
             "still commit",
             registry)
          .Add({});

  Gauge& connections = family(prometheus::BuildGauge(), "troupe_http_connections",
                              "Open client connections, event streams included", registry)
                           .Add({});
  Gauge& large_bodies =
      family(prometheus::BuildGauge(), "troupe_http_large_bodies",
             "Requests with a body over server.max_body_bytes (imports) being received or answered",
             registry)
          .Add({});
  by_labels<Counter> connections_refused{
      family(prometheus::BuildCounter(), "troupe_http_connections_refused_total",
             "Connections answered 503 and closed at accept: over server.max_connections, or "
             "out of file descriptors",
             registry),
      {"reason"}};
  by_labels<Counter> accept_errors{
      family(prometheus::BuildCounter(), "troupe_http_accept_errors_total",
             "Failed accepts, each followed by a back-off before the next", registry),
      {"reason"}};
  by_labels<Counter> streams_refused{
      family(prometheus::BuildCounter(), "troupe_event_streams_refused_total",
             "Event streams refused: the user's (429) or the node's (503) stream limit", registry),
      {"limit"}};
  Gauge& hash_waiting = family(prometheus::BuildGauge(), "troupe_password_hash_waiting",
                               "Password checks and hashes waiting for a hashing thread", registry)
                            .Add({});
  Counter& hash_rejected =
      family(prometheus::BuildCounter(), "troupe_password_hash_rejected_total",
             "Password checks refused because the hashing queue was full (answered 503)",
             registry)
          .Add({});
  by_labels<Counter> auth_limited{
      family(prometheus::BuildCounter(), "troupe_auth_rate_limited_total",
             "Sign-in and refresh attempts refused with 429, by the key that was over its limit",
             registry),
      {"key"}};
  Counter& api_limited =
      family(prometheus::BuildCounter(), "troupe_api_rate_limited_total",
             "API requests refused with 429 because their credential was over its limit",
             registry)
          .Add({});

  Counter& context_builds =
      family(prometheus::BuildCounter(), "troupe_context_index_builds_total",
             "Relevance indexes of playbook versions built (once per version while it stays in "
             "playbooks.context_cache_mb)",
             registry)
          .Add({});

  Gauge& pool_size = family(prometheus::BuildGauge(), "troupe_db_pool_size",
                            "Database connections in the store's pool", registry)
                         .Add({});
  Gauge& pool_in_use = family(prometheus::BuildGauge(), "troupe_db_pool_in_use",
                              "Pool connections running a task", registry)
                           .Add({});
  Gauge& pool_queued = family(prometheus::BuildGauge(), "troupe_db_pool_queued",
                              "Tasks waiting for a pool connection", registry)
                           .Add({});
  Counter& pool_waits = family(prometheus::BuildCounter(), "troupe_db_pool_waits_total",
                               "Tasks that had to wait for a pool connection", registry)
                            .Add({});
  Counter& pool_rejected =
      family(prometheus::BuildCounter(), "troupe_db_pool_rejected_total",
             "Tasks refused because the store's queue was full (answered 503)", registry)
          .Add({});
  by_labels<Counter> db_errors{family(prometheus::BuildCounter(), "troupe_db_errors_total",
                                      "Database failures: lost or refused connections, failed "
                                      "statements",
                                      registry),
                               {"kind"}};

  instruments() {
    family(prometheus::BuildGauge(), "troupe_build_info", "The running version; always 1",
           registry)
        .Add({{"version", TROUPE_VERSION}})
        .Set(1);
    // Zero series for the label values alerts and dashboards rely on, so a
    // rate() has a start point before the first event.
    for (auto kind : {"connection", "statement", "read_only", "resources"})
      db_errors.at({kind});
    for (auto reason : {"stalled", "overflow"})
      drops.at({reason});
    for (auto reason : {"limit", "descriptors"})
      connections_refused.at({reason});
    for (auto reason : {"descriptors", "other"})
      accept_errors.at({reason});
    for (auto limit : {"user", "node"})
      streams_refused.at({limit});
    for (auto key : {"email", "address"})
      auth_limited.at({key});
    for (auto kind : {"evolution", "critique", "noop"}) {
      for (auto* f : {&enqueued, &started, &completed, &failed, &retried, &cancelled, &rescued})
        f->at({kind});
      for (auto* g : {&running, &queue_depth, &queue_age})
        g->at({kind});
      run_time.at({kind});
    }
    for (auto perspective : {"completeness", "efficiency", "safety"})
      for (auto vote : {"agree", "neutral", "disagree"})
        votes.at({perspective, vote});
    for (auto decision : {"accepted", "rejected", "vetoed"})
      decisions.at({decision});
    for (auto transport : {"sse", "ws"}) {
      subscribers.at({transport});
      delivered.at({transport});
    }
  }
};

instruments& the() {
  static instruments i;
  return i;
}

std::string status_label(int status) {
  static const std::array<std::string, 600> names = [] {
    std::array<std::string, 600> a;
    for (int i = 0; i < 600; ++i)
      a[static_cast<std::size_t>(i)] = std::to_string(i);
    return a;
  }();
  return status >= 100 && status < 600 ? names[static_cast<std::size_t>(status)] : "other";
}

std::string_view method_label(std::string_view m) {
  for (std::string_view known : {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
    if (m == known)
      return known;
  return "other";
}

thread_local std::vector<std::string> pending_enqueues;

// ---- process metrics, read from /proc at scrape ----------------------------

prometheus::MetricFamily one(const char* name, const char* help, prometheus::MetricType type,
                             double value) {
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return {name, help, type, {m}};
}

void add_process_metrics(std::vector<prometheus::MetricFamily>& out) {
  std::ifstream stat{"/proc/self/stat"};
  std::string text{std::istreambuf_iterator<char>(stat), {}};
  auto close = text.rfind(')');
  if (close == std::string::npos)
    return;
  std::istringstream fields{text.substr(close + 2)};
  std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
  // f[0] is field 3 (state): field n is f[n - 3].
  if (f.size() < 22)
    return;
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  double threads = std::stod(f[17]);
  double start_ticks = std::stod(f[19]);
  double vsize = std::stod(f[20]);
  double rss = std::stod(f[21]) * page;
  double boot = 0;
  std::ifstream proc_stat{"/proc/stat"};
  for (std::string line; std::getline(proc_stat, line);)
    if (line.rfind("btime ", 0) == 0)
      boot = std::stod(line.substr(6));
  std::size_t fds = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it{"/proc/self/fd", ec}, end; !ec && it != end;
       it.increment(ec))
    ++fds;
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  using prometheus::MetricType;
  out.push_back(one("process_cpu_seconds_total", "User and system CPU time", MetricType::Counter,
                    cpu));
  out.push_back(one("process_resident_memory_bytes", "Resident memory", MetricType::Gauge, rss));
  out.push_back(
      one("process_virtual_memory_bytes", "Virtual memory", MetricType::Gauge, vsize));
  out.push_back(one("process_open_fds", "Open file descriptors", MetricType::Gauge,
                    static_cast<double>(fds)));
  out.push_back(one("process_max_fds", "File descriptor limit", MetricType::Gauge,
                    static_cast<double>(lim.rlim_cur)));
  out.push_back(one("process_threads", "Threads", MetricType::Gauge, threads));
  out.push_back(one("process_start_time_seconds", "Start time since the Unix epoch",
                    MetricType::Gauge, boot + start_ticks / ticks));
}

} // namespace

void http_request(std::string_view route, std::string_view method, int status, double seconds) {
  auto& i = the();
  auto m = method_label(method);
  i.http_requests.at({route, m, status_label(status)}).Increment();
  i.http_duration.at({route, m}).Observe(seconds);
}

void ingestion_batch(std::size_t requests, std::size_t recorded) {
  auto& i = the();
  i.batch_size.Observe(static_cast<double>(requests));
  i.outcomes.Increment(static_cast<double>(recorded));
}

void job_enqueued_on_commit(const std::string& kind) { pending_enqueues.push_back(kind); }
void job_enqueued(const std::string& kind) { the().enqueued.at({kind}).Increment(); }
void job_started(const std::string& kind) { the().started.at({kind}).Increment(); }
void job_completed(const std::string& kind, std::int64_t n) {
  the().completed.at({kind}).Increment(static_cast<double>(n));
}
void job_attempt_failed(const std::string& kind, const std::string& next_status) {
  if (next_status == "queued")
    the().retried.at({kind}).Increment();
  else if (next_status == "failed")
    the().failed.at({kind}).Increment();
  else if (next_status == "cancelled")
    the().cancelled.at({kind}).Increment();
}
void job_cancelled(const std::string& kind) { the().cancelled.at({kind}).Increment(); }
void job_rescued(const std::string& kind, std::int64_t n) {
  the().rescued.at({kind}).Increment(static_cast<double>(n));
}
void job_run_time(const std::string& kind, double seconds) {
  the().run_time.at({kind}).Observe(seconds);
}
void job_running(const std::string& kind, int delta) {
  the().running.at({kind}).Increment(delta);
}

void count_pending() {
  for (const auto& kind : pending_enqueues)
    job_enqueued(kind);
  pending_enqueues.clear();
}
void drop_pending() { pending_enqueues.clear(); }

void set_database_figures(const database_figures& f) {
  auto& i = the();
  i.database_up.Set(f.up ? 1 : 0);
  if (!f.up)
    return;
  i.database_latency.Set(f.latency_s);
  // A kind that emptied out reads 0, not its last value.
  for (auto& [key, g] : i.queue_depth.all())
    g->Set(0);
  for (auto& [key, g] : i.queue_age.all())
    g->Set(0);
  for (const auto& [kind, q] : f.queues) {
    i.queue_depth.at({kind}).Set(static_cast<double>(q.depth));
    i.queue_age.at({kind}).Set(q.oldest_age_s);
  }
  i.leases.Set(static_cast<double>(f.leases_active));
  i.nodes_up.Set(static_cast<double>(f.nodes_up));
  i.nodes_stale.Set(static_cast<double>(f.nodes_stale));
}

void critic_vote(const std::string& perspective, double score) {
  const char* vote = score >= 0.75 ? "agree" : score <= 0.25 ? "disagree" : "neutral";
  the().votes.at({perspective, vote}).Increment();
}
void voter_decision(bool accepted, bool vetoed) {
  the().decisions.at({vetoed ? "vetoed" : accepted ? "accepted" : "rejected"}).Increment();
}
void evolution_round() { the().rounds.Increment(); }
void llm_answer(const std::string& operation, const std::string& model, std::int64_t prompt_tokens,
                std::int64_t completion_tokens, double cost_usd, bool valid) {
  auto& i = the();
  i.llm_calls.at({operation, model, valid ? "valid" : "invalid"}).Increment();
  i.llm_tokens.at({model, "prompt"}).Increment(static_cast<double>(prompt_tokens));
  i.llm_tokens.at({model, "completion"}).Increment(static_cast<double>(completion_tokens));
  i.llm_cost.at({model}).Increment(cost_usd);
}
void llm_fallback(const std::string& operation) { the().llm_fallbacks.at({operation}).Increment(); }

void event_subscribers(std::string_view transport, int delta) {
  the().subscribers.at({transport}).Increment(delta);
}
void events_delivered(std::string_view transport, std::size_t n) {
  the().delivered.at({transport}).Increment(static_cast<double>(n));
}
void event_subscriber_dropped(std::string_view reason) { the().drops.at({reason}).Increment(); }
void event_gap_waited() { the().gap_waits.Increment(); }

void http_connections(int delta) { the().connections.Increment(delta); }
void http_large_bodies(int delta) { the().large_bodies.Increment(delta); }
void http_connection_refused(std::string_view reason) {
  the().connections_refused.at({reason}).Increment();
}
void http_accept_error(std::string_view reason) { the().accept_errors.at({reason}).Increment(); }
void event_stream_refused(std::string_view limit) { the().streams_refused.at({limit}).Increment(); }
void password_hash_waiting(int delta) { the().hash_waiting.Increment(delta); }
void password_hash_rejected() { the().hash_rejected.Increment(); }
void auth_rate_limited(std::string_view key) { the().auth_limited.at({key}).Increment(); }
void api_rate_limited() { the().api_limited.Increment(); }
void context_index_built() { the().context_builds.Increment(); }

void db_pool_size(int delta) { the().pool_size.Increment(delta); }
void db_pool_in_use(int delta) { the().pool_in_use.Increment(delta); }
void db_pool_queued(int delta) { the().pool_queued.Increment(delta); }
void db_pool_wait() { the().pool_waits.Increment(); }
void db_pool_rejected() { the().pool_rejected.Increment(); }
void db_error(std::string_view kind) { the().db_errors.at({kind}).Increment(); }

std::string exposition() {
  auto families = the().registry.Collect();
  add_process_metrics(families);
  return prometheus::TextSerializer{}.Serialize(families);
}

} // namespace troupe::metrics
