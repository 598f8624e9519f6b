// Process-wide Prometheus metrics (prometheus-cpp). Every family is listed,
// with its type and labels, in docs/metrics.md. Callers use the narrow
// functions below, so prometheus-cpp's headers stay inside metrics.cpp.
//
// Labels come only from bounded sets (route templates, job kinds, critic
// perspectives, configured models): never from raw paths or client input.
//
// One registry per process: a process is one node in production; tests that
// run several nodes in one process read differences, not absolute values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace troupe::metrics {

// ---- HTTP ----------------------------------------------------------------
// `route` is the route template, or "unmatched" for requests no route took
// (404s and requests that could not be parsed).
void http_request(std::string_view route, std::string_view method, int status, double seconds);

// Connections: open ones, refusals at accept ("limit" | "descriptors"),
// failed accepts ("descriptors" | "other").
void http_connections(int delta);
void http_large_bodies(int delta); // held large-body slots (server.max_large_bodies)
void http_connection_refused(std::string_view reason);
void http_accept_error(std::string_view reason);

// ---- authentication --------------------------------------------------------
void password_hash_waiting(int delta);
void password_hash_rejected();
void auth_rate_limited(std::string_view key); // email | address
void api_rate_limited(); // a credential over rate_limit.requests_per_minute (or its own)

// ---- playbooks -------------------------------------------------------------
void context_index_built();

// ---- outcomes -------------------------------------------------------------
// One write transaction of the ingestion batcher: `requests` answered,
// `recorded` new outcomes among them.
void ingestion_batch(std::size_t requests, std::size_t recorded);

// ---- jobs -----------------------------------------------------------------
// Counted once the transaction that queued the job commits (see
// count_pending); call from inside the transaction.
void job_enqueued_on_commit(const std::string& kind);
// Counted at once: the caller's transaction has committed.
void job_enqueued(const std::string& kind);
void job_started(const std::string& kind);
void job_completed(const std::string& kind, std::int64_t n = 1);
// An attempt that failed: "queued" (retried), "failed" or "cancelled".
void job_attempt_failed(const std::string& kind, const std::string& next_status);
void job_cancelled(const std::string& kind);
void job_rescued(const std::string& kind, std::int64_t n);
void job_run_time(const std::string& kind, double seconds);
void job_running(const std::string& kind, int delta); // this node's running attempts

// Applies or drops what *_on_commit recorded on this thread since the last
// call: the store worker calls one of them after each task, the scheduler
// after each pass.
void count_pending();
void drop_pending();

// Figures read from the database at scrape time (cluster-wide).
struct queue_figures {
  std::int64_t depth = 0;
  double oldest_age_s = 0;
};
struct database_figures {
  bool up = false;
  double latency_s = 0;
  std::map<std::string, queue_figures> queues; // by kind
  std::int64_t leases_active = 0;
  std::int64_t nodes_up = 0;
  std::int64_t nodes_stale = 0;
};
void set_database_figures(const database_figures& f);

// ---- evolution --------------------------------------------------------------
void critic_vote(const std::string& perspective, double score);
void voter_decision(bool accepted, bool vetoed);
void evolution_round();
void llm_answer(const std::string& operation, const std::string& model, std::int64_t prompt_tokens,
                std::int64_t completion_tokens, double cost_usd, bool valid);
void llm_fallback(const std::string& operation);

// ---- event streams ------------------------------------------------------------
void event_subscribers(std::string_view transport, int delta);
void events_delivered(std::string_view transport, std::size_t n);
void event_subscriber_dropped(std::string_view reason); // stalled | overflow
void event_gap_waited(); // a tail pass held back events behind an id that may still commit
void event_stream_refused(std::string_view limit);      // user | node

// ---- database pool ----------------------------------------------------------------
void db_pool_size(int delta);
void db_pool_in_use(int delta);
void db_pool_queued(int delta);
void db_pool_wait();
void db_pool_rejected();
void db_error(std::string_view kind); // connection | statement | read_only | resources

// The text exposition of everything above plus process metrics.
std::string exposition();

// The Content-Type of exposition().
inline constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

} // namespace troupe::metrics
