// The OpenAI-compatible chat-completions adapter: libcurl underneath, providers
// tried in order, retries with exponential back-off and jitter, and a bound on
// how many calls are in flight at once.
#include "runtime/llm/llm.hpp"

#include "text/ascii.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <curl/curl.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string_view>
#include <thread>
#include <utility>

namespace troupe::llm {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

// curl_global_init is not thread-safe and must precede every easy handle, so it
// runs exactly once per process, whichever client is built first.
void init_curl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// ---------------------------------------------------------------------------
// HTTP

struct http_result {
  CURLcode transport = CURLE_OK; // anything but CURLE_OK: no HTTP answer at all
  long status = 0;
  std::string body;
  std::optional<milliseconds> retry_after;
};

using text::iequals;
using text::trim;

// Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
std::optional<milliseconds> parse_retry_after(std::string_view value) {
  value = trim(value);
  if (value.empty())
    return std::nullopt;
  long long seconds = 0;
  const char* end = value.data() + value.size();
  if (const auto [ptr, ec] = std::from_chars(value.data(), end, seconds);
      ec == std::errc{} && ptr == end) {
    if (seconds < 0)
      return std::nullopt;
    // Clamped so the conversion cannot overflow; the caller caps it far lower anyway.
    return milliseconds(std::min(seconds, 86400LL) * 1000);
  }
  const std::time_t when = curl_getdate(std::string(value).c_str(), nullptr);
  if (when == -1)
    return std::nullopt;
  const auto delta = static_cast<long long>(when - std::time(nullptr));
  return milliseconds(std::clamp(delta, 0LL, 86400LL) * 1000);
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<http_result*>(user)->body.append(data, size * count);
  return size * count;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& out = *static_cast<http_result*>(user);
  const std::string_view line(data, size * count);
  const auto colon = line.find(':');
  // A status line opens a new header block (after a 1xx, say): only the last one counts.
  if (line.starts_with("HTTP/"))
    out.retry_after.reset();
  else if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), "retry-after"))
    out.retry_after = parse_retry_after(line.substr(colon + 1));
  return size * count;
}

using easy_handle = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using header_list = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

header_list make_headers(const std::string& api_key) {
  curl_slist* list = nullptr;
  list = curl_slist_append(list, "Content-Type: application/json");
  list = curl_slist_append(list, "Accept: application/json");
  // Without this curl may hold a large body back waiting for "100 Continue".
  list = curl_slist_append(list, "Expect:");
  if (!api_key.empty())
    list = curl_slist_append(list, ("Authorization: Bearer " + api_key).c_str());
  return header_list(list, curl_slist_free_all);
}

void set_options(CURL* h, const std::string& url, const std::string& body,
                 const curl_slist* headers, milliseconds timeout, http_result& out) {
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<milliseconds::rep>(timeout.count(), 5000)));
  // Signals are process-wide: curl's alarm-based DNS time-outs would hit other threads.
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  // Providers are addressed directly; http_proxy and friends must not reroute them
  // (a proxy in the environment would otherwise swallow loopback providers).
  curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &out);
}

// One POST on a fresh easy handle: calls are seconds long, so connection reuse
// would save little and a handle per call needs no locking between threads.
http_result post_json(const std::string& url, const std::string& body, const std::string& api_key,
                      milliseconds timeout) {
  http_result out;
  const easy_handle easy(curl_easy_init(), curl_easy_cleanup);
  if (!easy) {
    out.transport = CURLE_FAILED_INIT;
    return out;
  }
  const header_list headers = make_headers(api_key);
  set_options(easy.get(), url, body, headers.get(), timeout, out);
  out.transport = curl_easy_perform(easy.get());
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &out.status);
  return out;
}

std::string chat_url(std::string base) {
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  return base + "/chat/completions";
}

// ---------------------------------------------------------------------------
// What one HTTP call means for the retry loop

enum class next_step { done, retry, next_provider };

struct verdict {
  next_step step = next_step::retry;
  std::optional<response> answer;
  std::string failure; // why it did not succeed; fixed phrases only, never request data
  std::optional<milliseconds> retry_after;
};

verdict retry_because(std::string failure, std::optional<milliseconds> after = std::nullopt) {
  return {next_step::retry, std::nullopt, std::move(failure), after};
}

verdict transport_verdict(CURLcode code) {
  switch (code) {
  case CURLE_OPERATION_TIMEDOUT:
    return retry_because("timed out");
  // A bad URL or scheme is configuration: asking again cannot help.
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    return {next_step::next_provider, std::nullopt, curl_easy_strerror(code), std::nullopt};
  default: // refused, reset, unresolved, nothing received: all may heal
    return retry_because(curl_easy_strerror(code));
  }
}

verdict classify(http_result result) {
  if (result.transport != CURLE_OK)
    return transport_verdict(result.transport);
  if (result.status / 100 == 2) {
    if (auto answer = parse_response(result.body))
      return {next_step::done, std::move(answer), {}, std::nullopt};
    // A garbled 200 is typically a gateway hiccup in front of the model: worth another go.
    return retry_because("malformed response");
  }
  std::string failure = "HTTP " + std::to_string(result.status);
  if (result.status == 429)
    return retry_because(std::move(failure), result.retry_after);
  // 408 is the server's own time-out, treated like ours.
  if (result.status == 408 || result.status >= 500)
    return retry_because(std::move(failure));
  // Other 4xx (bad key, unknown model, rejected request) will fail the same way again.
  return {next_step::next_provider, std::nullopt, std::move(failure), std::nullopt};
}

// ---------------------------------------------------------------------------
// Back-off and the concurrency bound

double jitter() {
  // One generator per thread: thread-safe without a lock, and threads that fail
  // together do not retry in lock-step.
  thread_local std::mt19937 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.75, 1.25)(generator);
}

// base × 2^(retry−1), capped, then jittered. Doubling in floating point cannot
// overflow however many retries are configured (pow saturates to infinity).
milliseconds backoff(int retry, milliseconds base, milliseconds cap) {
  const double raw = static_cast<double>(base.count()) * std::pow(2.0, retry - 1);
  const double capped =
      std::clamp(raw, 0.0, static_cast<double>(std::max<milliseconds::rep>(0, cap.count())));
  return milliseconds(static_cast<milliseconds::rep>(capped * jitter()));
}

// Hand-rolled because std::counting_semaphore fixes its maximum at compile time.
class counting_semaphore {
public:
  explicit counting_semaphore(int slots) : free_(std::max(1, slots)) {}

  void acquire() {
    std::unique_lock lock(mutex_);
    freed_.wait(lock, [this] { return free_ > 0; });
    --free_;
  }

  void release() {
    {
      const std::lock_guard lock(mutex_);
      ++free_;
    }
    freed_.notify_one();
  }

private:
  std::mutex mutex_;
  std::condition_variable freed_;
  int free_;
};

class slot_guard {
public:
  explicit slot_guard(counting_semaphore& s) : semaphore_(s) { semaphore_.acquire(); }
  ~slot_guard() { semaphore_.release(); }
  slot_guard(const slot_guard&) = delete;
  slot_guard& operator=(const slot_guard&) = delete;

private:
  counting_semaphore& semaphore_;
};

// ---------------------------------------------------------------------------
// The client

struct provider_outcome {
  std::optional<response> answer;
  int calls = 0;
  std::string last_failure;
};

std::string describe(const provider& p, const provider_outcome& outcome) {
  return "provider " + p.name + ": " + outcome.last_failure + " after " +
         std::to_string(outcome.calls) + (outcome.calls == 1 ? " attempt" : " attempts");
}

class openai_client final : public client {
public:
  explicit openai_client(client_options opts)
      : opts_(std::move(opts)), slots_(opts_.max_concurrency) {
    init_curl();
  }

  std::optional<response> complete(const request& req, call_error& error) override {
    const slot_guard slot(slots_);
    int total = 0;
    std::string failures;
    for (const provider& p : opts_.providers) {
      provider_outcome outcome = try_provider(p, req);
      total += outcome.calls;
      if (outcome.answer)
        return finish(std::move(*outcome.answer), p, total);
      failures += (failures.empty() ? "" : "; ") + describe(p, outcome);
    }
    error.message = opts_.providers.empty() ? "no providers configured" : failures;
    error.attempts = total;
    return std::nullopt;
  }

private:
  static response finish(response answer, const provider& p, int total) {
    answer.provider = p.name;
    answer.attempts = total;
    if (answer.model.empty()) // the body may omit it; the model asked for is the best guess
      answer.model = p.model;
    return answer;
  }

  provider_outcome try_provider(const provider& p, const request& req) const {
    provider_outcome out;
    const std::string url = chat_url(p.base_url);
    const std::string body = request_body(req, p.model);
    const int tries = 1 + std::max(0, opts_.max_retries);
    for (int i = 0; i < tries; ++i) {
      verdict v = classify(post_json(url, body, p.api_key, opts_.timeout));
      ++out.calls;
      if (v.step == next_step::done) {
        out.answer = std::move(v.answer);
        return out;
      }
      out.last_failure = std::move(v.failure);
      if (v.step == next_step::next_provider || i + 1 == tries)
        return out; // no point sleeping before a provider switch or after the last try
      std::this_thread::sleep_for(delay_before(v, i + 1));
    }
    return out;
  }

  // The server's own Retry-After wins over our schedule, but within backoff_max so a
  // hostile or confused server cannot park a worker for an hour.
  milliseconds delay_before(const verdict& v, int retry) const {
    if (v.retry_after)
      return std::min(*v.retry_after, opts_.backoff_max);
    return backoff(retry, opts_.backoff_base, opts_.backoff_max);
  }

  client_options opts_;
  counting_semaphore slots_;
};

const json* member(const json& object, const char* key) {
  if (!object.is_object())
    return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::int64_t token_count(const json* usage, const char* key) {
  const json* value = usage ? member(*usage, key) : nullptr;
  if (!value || !value->is_number())
    return 0;
  return std::max<std::int64_t>(0, value->get<std::int64_t>());
}

} // namespace

std::unique_ptr<client> make_openai_client(client_options opts) {
  return std::make_unique<openai_client>(std::move(opts));
}

std::string request_body(const request& req, const std::string& model) {
  json messages = json::array();
  for (const message& m : req.messages)
    messages.push_back({{"role", m.role}, {"content", m.content}});
  json body = {{"model", model},
               {"messages", std::move(messages)},
               {"temperature", req.temperature},
               {"max_tokens", req.max_tokens}};
  if (req.json_object)
    body["response_format"] = {{"type", "json_object"}};
  // Message text comes from users and models: replace invalid UTF-8 rather than throw.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<response> parse_response(const std::string& body) {
  const json doc = json::parse(body, nullptr, false);
  const json* choices = member(doc, "choices");
  if (!choices || !choices->is_array() || choices->empty())
    return std::nullopt;
  const json* msg = member(choices->front(), "message");
  const json* content = msg ? member(*msg, "content") : nullptr;
  if (!content || !content->is_string())
    return std::nullopt;
  response out;
  out.content = content->get<std::string>();
  if (const json* model = member(doc, "model"); model && model->is_string())
    out.model = model->get<std::string>();
  const json* usage = member(doc, "usage");
  out.prompt_tokens = token_count(usage, "prompt_tokens");
  out.completion_tokens = token_count(usage, "completion_tokens");
  return out;
}

double cost_usd(std::int64_t prompt_tokens, std::int64_t completion_tokens,
                double prompt_price_per_million, double completion_price_per_million) {
  return (static_cast<double>(prompt_tokens) * prompt_price_per_million +
          static_cast<double>(completion_tokens) * completion_price_per_million) /
         1e6;
}

} // namespace troupe::llm
