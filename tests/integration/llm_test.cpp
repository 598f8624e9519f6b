// The OpenAI-compatible adapter against a real local HTTP server that speaks the
// chat-completions protocol and plays a per-test script of canned behaviours.
#include "runtime/llm/llm.hpp"
#include "tests/integration/fake_openai.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <gtest/gtest.h>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/socket.h>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

namespace llm = troupe::llm;

// ---------------------------------------------------------------------------
using namespace troupe::test;

// ---------------------------------------------------------------------------
// Helpers

llm::provider provider_at(const std::string& name, const std::string& base_url,
                          std::string api_key = "secret") {
  return {name, base_url, "model-" + name, std::move(api_key)};
}

llm::client_options fast_options(std::vector<llm::provider> providers) {
  llm::client_options o;
  o.providers = std::move(providers);
  o.max_retries = 3;
  o.timeout = 3000ms;
  o.backoff_base = 5ms;
  o.backoff_max = 50ms;
  o.max_concurrency = 4;
  return o;
}

llm::request sample_request() {
  llm::request r;
  r.messages = {{"system", "Answer in JSON."}, {"user", "What is six times seven?"}};
  r.temperature = 0.5;
  r.max_tokens = 256;
  return r;
}

struct outcome {
  std::optional<llm::response> answer;
  llm::call_error error;
  milliseconds elapsed{0};
};

outcome run(const llm::client_options& opts, const llm::request& req = sample_request()) {
  const auto client = llm::make_openai_client(opts);
  outcome out;
  const auto start = steady::now();
  out.answer = client->complete(req, out.error);
  out.elapsed = std::chrono::duration_cast<milliseconds>(steady::now() - start);
  return out;
}

// ---------------------------------------------------------------------------
// Tests

TEST(LlmIntegration, HappyPathSendsTheRequestAndReadsTheAnswer) {
  fake_openai server;
  server.push(ok(R"({"answer":42})", 12, 34));
  const outcome r = run(fast_options({provider_at("a", server.base_url())}));

  ASSERT_TRUE(r.answer) << r.error.message;
  EXPECT_EQ(r.answer->content, R"({"answer":42})");
  EXPECT_EQ(r.answer->prompt_tokens, 12);
  EXPECT_EQ(r.answer->completion_tokens, 34);
  EXPECT_EQ(r.answer->model, "fake-model");
  EXPECT_EQ(r.answer->provider, "a");
  EXPECT_EQ(r.answer->attempts, 1);

  const auto sent = server.requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].target, "/v1/chat/completions");
  EXPECT_EQ(sent[0].headers.at("content-type"), "application/json");
  ASSERT_TRUE(sent[0].headers.contains("authorization"));
  EXPECT_EQ(sent[0].headers.at("authorization"), "Bearer secret");

  const json body = json::parse(sent[0].body);
  EXPECT_EQ(body["model"], "model-a");
  EXPECT_EQ(body["messages"], json::parse(R"([{"role":"system","content":"Answer in JSON."},
                            {"role":"user","content":"What is six times seven?"}])"));
  EXPECT_EQ(body["response_format"], json::parse(R"({"type":"json_object"})"));
  EXPECT_EQ(body["temperature"], 0.5);
  EXPECT_EQ(body["max_tokens"], 256);
}

TEST(LlmIntegration, EmptyApiKeySendsNoAuthorizationHeader) {
  fake_openai server;
  server.push(ok("hi"));
  const outcome r = run(fast_options({provider_at("a", server.base_url(), "")}));
  ASSERT_TRUE(r.answer) << r.error.message;
  const auto sent = server.requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_FALSE(sent[0].headers.contains("authorization"));
}

TEST(LlmIntegration, ServerErrorsAreRetriedWithBackoff) {
  fake_openai server;
  server.push(status(500));
  server.push(status(503));
  server.push(ok("third time lucky"));
  const outcome r = run(fast_options({provider_at("a", server.base_url())}));
  ASSERT_TRUE(r.answer) << r.error.message;
  EXPECT_EQ(r.answer->content, "third time lucky");
  EXPECT_EQ(r.answer->attempts, 3);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(LlmIntegration, TooManyRequestsWithoutRetryAfterBacksOff) {
  fake_openai server;
  server.push(status(429));
  server.push(ok("done"));
  const outcome r = run(fast_options({provider_at("a", server.base_url())}));
  ASSERT_TRUE(r.answer) << r.error.message;
  EXPECT_EQ(r.answer->attempts, 2);
}

TEST(LlmIntegration, RetryAfterZeroReplacesTheBackoffSchedule) {
  fake_openai server;
  server.push(status(429, "{}", "0"));
  server.push(ok("done"));
  auto opts = fast_options({provider_at("a", server.base_url())});
  opts.backoff_base = 10s; // would dominate the test if Retry-After were ignored
  opts.backoff_max = 20s;
  const outcome r = run(opts);
  ASSERT_TRUE(r.answer) << r.error.message;
  EXPECT_EQ(r.answer->attempts, 2);
  EXPECT_LT(r.elapsed, 5s);
}

TEST(LlmIntegration, RetryAfterOneSecondIsHonoured) {
  fake_openai server;
  server.push(status(429, "{}", "1"));
  server.push(ok("done"));
  auto opts = fast_options({provider_at("a", server.base_url())});
  opts.backoff_max = 2000ms;
  const outcome r = run(opts);
  ASSERT_TRUE(r.answer) << r.error.message;
  EXPECT_EQ(r.answer->attempts, 2);
  EXPECT_GE(r.elapsed, 900ms);
}

TEST(LlmIntegration, RetryAfterIsCappedAtBackoffMax) {
  fake_openai server;
  server.push(status(429, "{}", "3600"));
  server.push(ok("done"));
  const outcome r = run(fast_options({provider_at("a", server.base_url())}));
  ASSERT_TRUE(r.answer) << r.error.message;
  EXPECT_LT(r.elapsed, 5s);
}

TEST(LlmIntegration, MalformedAnswersAreRetried) {
  fake_openai server;
  server.push(not_json());
  server.push(no_choices());
  server.push(ok("finally"));
  const outcome r = run(fast_options({provider_at("a", server.base_url())}));
  ASSERT_TRUE(r.answer) << r.error.message;
  EXPECT_EQ(r.answer->content, "finally");
  EXPECT_EQ(r.answer->attempts, 3);
}

TEST(LlmIntegration, MalformedForeverFailsAfterEveryRetry) {
  fake_openai server;
  server.otherwise(not_json());
  auto opts = fast_options({provider_at("a", server.base_url())});
  opts.max_retries = 2;
  const outcome r = run(opts);
  ASSERT_FALSE(r.answer);
  EXPECT_EQ(r.error.attempts, 3);
  EXPECT_NE(r.error.message.find("malformed"), std::string::npos) << r.error.message;
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(LlmIntegration, TimeOutIsRetried) {
  fake_openai server;
  server.push(slow(10s, ok("too late"))); // cut short when the server stops
  server.push(ok("in time"));
  auto opts = fast_options({provider_at("a", server.base_url())});
  opts.timeout = 400ms;
  const outcome r = run(opts);
  ASSERT_TRUE(r.answer) << r.error.message;
  EXPECT_EQ(r.answer->content, "in time");
  EXPECT_EQ(r.answer->attempts, 2);
  EXPECT_LT(r.elapsed, 5s);
}

TEST(LlmIntegration, UnauthorizedMovesToTheNextProviderAtOnce) {
  fake_openai first;
  fake_openai second;
  first.otherwise(status(401));
  second.push(ok("from b"));
  const outcome r =
      run(fast_options({provider_at("a", first.base_url()), provider_at("b", second.base_url())}));
  ASSERT_TRUE(r.answer) << r.error.message;
  EXPECT_EQ(r.answer->provider, "b");
  EXPECT_EQ(r.answer->model, "fake-model");
  EXPECT_EQ(r.answer->attempts, 2);
  EXPECT_EQ(first.requests().size(), 1u);
  EXPECT_EQ(second.requests().front().headers.at("authorization"), "Bearer secret");
  EXPECT_EQ(json::parse(second.requests().front().body)["model"], "model-b");
}

TEST(LlmIntegration, ConnectionRefusedFallsThroughToTheNextProvider) {
  fake_openai second;
  second.push(ok("from b"));
  const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port()) + "/v1";
  const outcome r =
      run(fast_options({provider_at("a", dead), provider_at("b", second.base_url())}));
  ASSERT_TRUE(r.answer) << r.error.message;
  EXPECT_EQ(r.answer->provider, "b");
  EXPECT_EQ(r.answer->attempts, 5); // 1 + max_retries on a, then b
}

TEST(LlmIntegration, AllProvidersFailingNamesEachAndHidesTheKey) {
  fake_openai first;
  fake_openai second;
  first.otherwise(status(500));
  second.otherwise(slow(10s, ok("too late")));
  auto opts = fast_options({provider_at("a", first.base_url(), "sk-very-secret"),
                            provider_at("b", second.base_url(), "sk-very-secret")});
  opts.max_retries = 1;
  opts.timeout = 300ms;
  const outcome r = run(opts);
  ASSERT_FALSE(r.answer);
  EXPECT_EQ(r.error.attempts, 4);
  EXPECT_EQ(r.error.message,
            "provider a: HTTP 500 after 2 attempts; provider b: timed out after 2 attempts");
  EXPECT_EQ(r.error.message.find("sk-very-secret"), std::string::npos);
}

TEST(LlmIntegration, NoProvidersIsAFailureWithoutCalls) {
  const outcome r = run(fast_options({}));
  ASSERT_FALSE(r.answer);
  EXPECT_EQ(r.error.attempts, 0);
  EXPECT_FALSE(r.error.message.empty());
}

TEST(LlmIntegration, ConcurrencyIsBounded) {
  fake_openai server;
  behaviour held = ok("done");
  held.delay = 100ms;
  held.hold_until_in_flight = 2;
  server.otherwise(held);
  auto opts = fast_options({provider_at("a", server.base_url())});
  opts.max_concurrency = 2;
  const auto client = llm::make_openai_client(opts);

  constexpr int callers = 6;
  std::vector<int> succeeded(callers, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < callers; ++i)
    threads.emplace_back([&, i] {
      llm::call_error error;
      succeeded[i] = client->complete(sample_request(), error).has_value() ? 1 : 0;
    });
  for (std::thread& t : threads)
    t.join();

  EXPECT_EQ(std::count(succeeded.begin(), succeeded.end(), 1), callers);
  EXPECT_EQ(server.requests().size(), static_cast<std::size_t>(callers));
  EXPECT_LE(server.max_in_flight(), 2);
  EXPECT_EQ(server.max_in_flight(), 2); // the bound is reached, not merely respected
}

TEST(LlmParse, MissingUsageAndModelMeanZeroAndEmpty) {
  const auto r = llm::parse_response(R"({"choices":[{"message":{"content":"x"}}]})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->content, "x");
  EXPECT_EQ(r->prompt_tokens, 0);
  EXPECT_EQ(r->completion_tokens, 0);
  EXPECT_EQ(r->model, "");
}

TEST(LlmParse, PartialUsageIsRead) {
  const auto r = llm::parse_response(
      R"({"model":"m","choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":7}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->prompt_tokens, 7);
  EXPECT_EQ(r->completion_tokens, 0);
}

TEST(LlmParse, RejectsWhatIsNotAChatCompletion) {
  EXPECT_FALSE(llm::parse_response("not json"));
  EXPECT_FALSE(llm::parse_response(""));
  EXPECT_FALSE(llm::parse_response("[]"));
  EXPECT_FALSE(llm::parse_response(R"({"choices":[]})"));
  EXPECT_FALSE(llm::parse_response(R"({"choices":[{}]})"));
  EXPECT_FALSE(llm::parse_response(R"({"choices":[{"message":{"content":null}}]})"));
  EXPECT_FALSE(llm::parse_response(R"({"choices":[{"message":{"content":42}}]})"));
  EXPECT_FALSE(llm::parse_response(R"({"choices":[{"message":{"content":["a"]}}]})"));
}

TEST(LlmRequestBody, PlainTextOmitsResponseFormat) {
  llm::request req = sample_request();
  req.json_object = false;
  const json body = json::parse(llm::request_body(req, "m"));
  EXPECT_FALSE(body.contains("response_format"));
  EXPECT_EQ(body["model"], "m");
  EXPECT_EQ(body["messages"].size(), 2u);
}

TEST(LlmRequestBody, InvalidUtf8IsReplacedNotThrown) {
  llm::request req;
  req.messages = {{"user", std::string("bad \xff byte")}};
  std::string text;
  EXPECT_NO_THROW(text = llm::request_body(req, "m"));
  EXPECT_TRUE(json::accept(text));
}

TEST(LlmCost, PricesArePerMillionTokens) {
  EXPECT_DOUBLE_EQ(llm::cost_usd(1000, 500, 2.5, 10.0), 0.0075);
  EXPECT_DOUBLE_EQ(llm::cost_usd(0, 0, 2.5, 10.0), 0.0);
  EXPECT_DOUBLE_EQ(llm::cost_usd(1'000'000, 1'000'000, 0.15, 0.6), 0.75);
}

} // namespace
