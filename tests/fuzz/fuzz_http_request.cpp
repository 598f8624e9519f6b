// libFuzzer target: the HTTP request path as far as it goes without a
// database or an actor: framing (Beast's parser with the server's limits and
// troupe's rules), routing, the query string, authentication (JWTs, API key
// shapes), scopes, the body's media type and JSON, and the input rules of
// the routes whose bodies are pure to read (outcomes, critiques, and any
// JSON object body). Every refusal must be one of api.md's client errors:
// never an exception, never a 500.
#include "actors/critique/critique.hpp"
#include "actors/ingestion/outcome_rules.hpp"
#include "gateway/gateway.hpp"
#include "gateway/http_framing.hpp"
#include "runtime/input.hpp"

#include <cstdlib>
#include <set>

using namespace troupe;
using namespace troupe::gateway;

namespace {

// The secret the seed corpus's JWTs are signed with (tests/fuzz/README.md).
const std::string secret = "troupe-fuzz-secret-0123456789abcdef";

void expect_client_error(const api_response& r) {
  static const std::set<int> allowed = {400, 401, 403, 404, 405, 413, 415, 422, 429};
  if (!allowed.count(r.status))
    std::abort();
}

// Reads the body the way the route's handler would, up to the database.
void validate_body(const screened_request& s) {
  if (!s.rt->takes_body || s.req.body.empty())
    return;
  try {
    if (s.req.op == endpoint::record_outcome)
      ingestion::parse_outcome(s.req, config::outcomes_settings{});
    else if (s.req.op == endpoint::create_critique)
      critique::read_critique_request(s.req, critique::options_from(config::settings{}));
    else
      input::object_body(s.req);
  } catch (const api_error& e) {
    expect_client_error(error_response(e, s.req.request_id));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auth::credential_cache cache{std::chrono::milliseconds{0}};
  http_server_options opts;
  request_parser parser;
  limit_parser(parser, opts);
  boost::beast::error_code ec;
  bool limited = false; // the route's body limit is set once the head is read, as the session does
  std::string_view input{reinterpret_cast<const char*>(data), size};
  while (!input.empty() && (input.front() == '\r' || input.front() == '\n'))
    input.remove_prefix(1); // what skip_empty_lines does in front of a request
  std::size_t used = 0;
  do {
    auto n = parser.put(boost::asio::buffer(input.data() + used, input.size() - used), ec);
    used += n;
    if (!ec && parser.is_header_done() && !parser.is_done() && check_head(parser.get()))
      return 0; // refused on its head, as the session does
    if (!ec && parser.is_header_done() && !limited) {
      limited = true;
      const auto& head = parser.get();
      auto target = std::string_view{head.target().data(), head.target().size()};
      auto limit = route_body_limit(
          match(std::string_view{head.method_string().data(), head.method_string().size()},
                target.substr(0, target.find('?'))),
          opts);
      if (auto length = parser.content_length(); length && *length > limit)
        return 0; // 413 on the head
      parser.body_limit(limit);
      parser.eager(true);
    }
  } while (!ec && used < input.size() && !parser.is_done());
  if (ec && ec != boost::beast::http::error::need_more) {
    expect_client_error(
        error_response(problem_of(ec).status, problem_of(ec).code, problem_of(ec).message, "f"));
    return 0;
  }
  if (!parser.is_done() || check_head(parser.get()))
    return 0;
  auto& req = parser.get();
  screened_request screened;
  auto answer = screen(to_incoming(req, "192.0.2.1"), secret, cache, screened);
  if (answer) {
    expect_client_error(*answer);
    return 0;
  }
  if (!screened.needs_verification)
    validate_body(screened);
  return 0;
}
