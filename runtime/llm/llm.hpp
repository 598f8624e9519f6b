// The LLM port: one chat-completions call, as the evolution engine needs it,
// behind an interface with two implementations — none for the built-in
// engine (it never calls), and an OpenAI-compatible HTTP adapter (libcurl).
//
// The adapter tries its providers in order; on each it retries 429, 5xx,
// connection failures and time-outs with exponential back-off and jitter
// (honouring Retry-After), and it bounds how many calls run at once. Calls
// block: callers run them on a store-like worker, never on CAF's scheduler.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace troupe::llm {

struct message {
  std::string role; // system | user | assistant
  std::string content;
};

struct request {
  std::vector<message> messages;
  bool json_object = true; // ask for response_format {"type": "json_object"}
  double temperature = 0;
  int max_tokens = 2048;
};

struct response {
  std::string content; // the first choice's message content
  std::string model;
  std::string provider; // which provider answered
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  int attempts = 0; // HTTP calls made, across providers
};

// Why a call failed for good (every provider and retry spent).
struct call_error {
  std::string message;
  int attempts = 0;
};

struct provider {
  std::string name;
  std::string base_url; // e.g. http://127.0.0.1:9000/v1 ("/chat/completions" is appended)
  std::string model;
  std::string api_key;  // sent as Authorization: Bearer; may be empty
};

struct client_options {
  std::vector<provider> providers; // tried in order
  int max_retries = 3;             // per provider, after the first try
  std::chrono::milliseconds timeout{30000};      // one HTTP call, connect included
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{10000};
  int max_concurrency = 4;         // calls in flight at once, across threads
};

class client {
public:
  virtual ~client() = default;
  // Blocks until an answer or until every provider and retry is spent.
  // Thread-safe. Returns the response, or fills `error` and returns nullopt.
  virtual std::optional<response> complete(const request& req, call_error& error) = 0;
};

// The OpenAI-compatible adapter.
std::unique_ptr<client> make_openai_client(client_options opts);

// The request body the adapter sends (exposed for tests and logging).
std::string request_body(const request& req, const std::string& model);

// Reads a chat-completions answer; nullopt when it is not one.
std::optional<response> parse_response(const std::string& body);

// Cost in USD of a call at the given prices (per million tokens).
double cost_usd(std::int64_t prompt_tokens, std::int64_t completion_tokens,
                double prompt_price_per_million, double completion_price_per_million);

} // namespace troupe::llm
