#include "gateway/gateway.hpp"

#include "actors/event_bridge/event_bridge.hpp"
#include "auth/credentials.hpp"
#include "auth/credential_cache.hpp"
#include "gateway/dashboard.hpp"
#include "gateway/router.hpp"
#include "messages/errors.hpp"
#include "runtime/crypto.hpp"
#include "runtime/input.hpp"
#include "runtime/log.hpp"
#include "runtime/metrics.hpp"
#include "runtime/rate_limiter.hpp"
#include "runtime/store.hpp"
#include "text/ascii.hpp"

#include <optional>
#include <pqxx/pqxx>

namespace troupe::gateway {

// One request on its way through the bridge. Node-local: it carries the
// connection's responder.
struct exchange {
  screened_request in;
  responder reply;
};

} // namespace troupe::gateway

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::gateway::exchange)

namespace troupe::gateway {
namespace {

using json = nlohmann::json;
using namespace troupe::auth; // credentials: JWTs, API keys, scopes, the cache

// ---- credential verifier ------------------------------------------------

struct verifier_state {
  static inline const char* name = "troupe.credential_verifier";
};

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

auth_outcome refused(const std::string& message) { return {false, 401, message, {}}; }

auth_outcome check_jwt(const std::string& token, const std::string& secret) {
  auto r = jwt_verify(token, secret, unix_now());
  switch (r.status) {
    case jwt_status::ok:
      return {true, 200, "", {r.claims.subject, r.claims.email, {"*"}, ""}};
    case jwt_status::expired:
      return refused("access token expired");
    case jwt_status::bad_signature:
      return refused("access token signature is invalid");
    case jwt_status::wrong_algorithm:
      return refused("access token algorithm is not accepted");
    case jwt_status::malformed:
      break;
  }
  return refused("credential is malformed");
}

// Runs in a store worker: looks the key up by prefix and checks it.
auth_outcome lookup_key(pqxx::connection& conn, const std::string& prefix,
                        const std::string& key_hash) {
  pqxx::work tx{conn};
  auto rows = tx.exec_prepared("troupe.api_key_lookup", prefix);
  if (rows.empty())
    return refused("unknown API key");
  auto row = rows[0];
  pqxx::binarystring stored{row[1]};
  if (!crypto::equal_constant_time(stored.str(), key_hash))
    return refused("unknown API key");
  if (row[2].as<bool>())
    return refused("API key revoked");
  if (row[3].as<bool>())
    return refused("API key expired");
  if (!row[7].as<bool>())
    return refused("the user of this API key is disabled");
  tx.exec_prepared("troupe.api_key_touch", row[0].c_str());
  tx.commit();
  principal who{row[4].c_str(), row[5].c_str(),
                json::parse(row[6].c_str()).get<std::vector<std::string>>(), prefix,
                row[8].as<int>()};
  return {true, 200, "", std::move(who)};
}

credential_actor::behavior_type verifier(credential_actor::stateful_pointer<verifier_state> self,
                                         store_actor store, std::string secret,
                                         std::shared_ptr<credential_cache> cache) {
  return {
      [=](verify_atom, credential& c) -> caf::result<auth_outcome> {
        if (!looks_like_api_key(c.token))
          return check_jwt(c.token, secret);
        auto prefix = api_key_prefix(c.token);
        if (!prefix)
          return refused("API key is malformed");
        auto hash = crypto::sha256(c.token);
        principal cached;
        switch (cache->lookup(*prefix, hash, cached)) {
          case credential_cache::verdict::hit:
            return auth_outcome{true, 200, "", cached};
          case credential_cache::verdict::mismatch:
            return refused("unknown API key");
          case credential_cache::verdict::miss:
            break;
        }
        auto promise = self->make_response_promise<auth_outcome>();
        auto p = *prefix;
        runtime::store_call(
            self, store, c.request_id,
            [p, hash](pqxx::connection& conn) { return lookup_key(conn, p, hash); },
            [=](auth_outcome outcome) mutable {
              if (outcome.ok)
                cache->store(p, hash, outcome.who);
              promise.deliver(std::move(outcome));
            },
            [=](caf::error& e) mutable {
              promise.deliver(auth_outcome{false, 503,
                                           code_of(e) == errc::unavailable
                                               ? message_of(e)
                                               : "credentials could not be checked",
                                           {}});
            });
        return promise;
      },
      [=](invalidate_atom, const std::string& user_id) { cache->invalidate_user(user_id); },
  };
}

// ---- rate limits --------------------------------------------------------

// The request counts of the credentials this gateway has seen, shared by its
// io threads and its bridge actor.
struct credential_counts {
  int server_limit;
  runtime::sliding_window_limiter counts;

  explicit credential_counts(const request_limits& l)
      : server_limit(l.requests_per_minute),
        counts(std::max(l.requests_per_minute, 1), std::chrono::seconds{60}, l.max_credentials) {}
};

// Counts an authenticated request against its credential: an API key by its
// prefix (with its own limit when it has one), a JWT by its user. Returns the
// 429 to answer when over; otherwise `reply` is wrapped so that the answer,
// whatever it is, carries the X-RateLimit headers.
std::optional<api_response> count_request(credential_counts& c, const screened_request& in,
                                          responder& reply) {
  const auto& who = in.req.caller;
  int limit = who.rate_limit_per_minute > 0 ? who.rate_limit_per_minute : c.server_limit;
  if (limit <= 0)
    return std::nullopt;
  auto key = who.key_prefix.empty() ? "u:" + who.user_id : "k:" + who.key_prefix;
  auto d = c.counts.hit(key, runtime::sliding_window_limiter::clock::now(), limit);
  auto headers = [d](api_response& r) {
    r.headers["X-RateLimit-Limit"] = std::to_string(d.limit);
    r.headers["X-RateLimit-Remaining"] = std::to_string(d.remaining);
    r.headers["X-RateLimit-Reset"] = std::to_string(d.reset_s);
  };
  if (!d.allowed) {
    metrics::api_rate_limited();
    auto r = error_response(429, "rate_limited",
                            "this credential is over its limit of " + std::to_string(d.limit) +
                                " requests per minute; retry in " +
                                std::to_string(d.retry_after_s) + " s",
                            in.req.request_id);
    headers(r);
    r.headers["Retry-After"] = std::to_string(d.retry_after_s);
    return r;
  }
  reply = [inner = std::move(reply), headers](gateway::reply r) {
    if (auto* response = std::get_if<api_response>(&r))
      headers(*response);
    inner(std::move(r));
  };
  return std::nullopt;
}

// ---- bridge -------------------------------------------------------------

struct bridge_state {
  static inline const char* name = "troupe.gateway";
};

using bridge_actor = caf::typed_actor<caf::reacts_to<exchange>>;

api_actor target_of(const gateway_targets& t, service s) {
  switch (s) {
    case service::accounts:
      return t.accounts;
    case service::playbooks:
      return t.playbooks;
    case service::ingestion:
      return t.ingestion;
    case service::jobs:
      return t.jobs;
    case service::critiques:
      return t.critiques;
    case service::projects:
      return t.projects;
    case service::usage:
      return t.usage;
    case service::mcp:
      return t.mcp;
    case service::events: // answered by the gateway itself (open_stream, make_bridge)
    case service::openapi:
    case service::dashboard:
    case service::system:
      break;
  }
  return t.system;
}

// Answers what an authenticated caller may not do: a missing scope (403), or
// a body found bad on the io thread. Returns true when it answered.
std::optional<api_response> refuse_after_auth(screened_request& in) {
  if (!in.rt->scope.empty() && !scope_allows(in.req.caller.scopes, in.rt->scope))
    return error_response(403, "permission_denied",
                          "this credential lacks the scope " + in.rt->scope, in.req.request_id);
  return std::move(in.body_error);
}

// An accepted subscription turns the connection into an event stream; the
// subscription never leaves the gateway as anything but a typed value.
void open_stream(exchange& ex) {
  try {
    auto kind = ex.in.req.op == endpoint::events_ws ? stream_kind::ws : stream_kind::sse;
    ex.reply(stream_request{kind, event_bridge::read_subscription(ex.in.req)});
  } catch (const api_error& e) {
    ex.reply(error_response(e, ex.in.req.request_id));
  }
}

// The HTTP session bounds the wait (server.request_timeout_ms), so the
// request itself carries no timer.
void forward(bridge_actor::stateful_pointer<bridge_state> self, const gateway_targets& targets,
             exchange ex) {
  auto reply = ex.reply;
  auto id = ex.in.req.request_id;
  if (ex.in.rt->target == service::events)
    return open_stream(ex);
  self->request(target_of(targets, ex.in.rt->target), caf::infinite, std::move(ex.in.req))
      .then([reply](api_response& r) { reply(std::move(r)); },
            [reply, id](caf::error& e) {
              log::error("request failed inside the node",
                         {{"request_id", id}, {"error", caf::to_string(e)}});
              reply(error_response(500, "internal", "internal error", id));
            });
}

bridge_actor::behavior_type bridge(bridge_actor::stateful_pointer<bridge_state> self,
                                   gateway_targets targets,
                                   std::shared_ptr<credential_counts> limits) {
  return {
      [=](exchange& ex) {
        if (!ex.in.needs_verification)
          return forward(self, targets, std::move(ex));
        credential c{ex.in.token, ex.in.req.request_id};
        self->request(targets.verifier, caf::infinite, verify_atom::value, std::move(c))
            .then(
                [=](auth_outcome& o) mutable {
                  if (!o.ok)
                    return ex.reply(error_response(
                        o.status, o.status == 401 ? "unauthenticated" : "unavailable", o.message,
                        ex.in.req.request_id));
                  ex.in.req.caller = std::move(o.who);
                  if (auto over = count_request(*limits, ex.in, ex.reply))
                    return ex.reply(std::move(*over));
                  if (auto refusal = refuse_after_auth(ex.in))
                    return ex.reply(std::move(*refusal));
                  forward(self, targets, std::move(ex));
                },
                [=](caf::error&) mutable {
                  ex.reply(error_response(503, "unavailable", "credentials could not be checked",
                                          ex.in.req.request_id));
                });
      },
  };
}

// Authenticates on the io thread when it can: JWTs always, API keys on a
// cache hit. Returns an error to answer, or nothing with either `ex.req.caller`
// set or `ex.needs_verification` (a key the bridge must look up).
std::optional<std::string> authenticate_here(screened_request& ex, const std::string& secret,
                                             const credential_cache& cache) {
  if (!looks_like_api_key(ex.token)) {
    auto outcome = check_jwt(ex.token, secret);
    if (!outcome.ok)
      return outcome.message;
    ex.req.caller = std::move(outcome.who);
    return std::nullopt;
  }
  auto prefix = api_key_prefix(ex.token);
  if (!prefix)
    return std::string{"API key is malformed"};
  switch (cache.lookup(*prefix, crypto::sha256(ex.token), ex.req.caller)) {
    case credential_cache::verdict::hit:
      return std::nullopt;
    case credential_cache::verdict::mismatch:
      return std::string{"unknown API key"};
    case credential_cache::verdict::miss:
      break;
  }
  ex.needs_verification = true;
  return std::nullopt;
}

// The credential from Authorization: Bearer or X-API-Key. Sets `bad` for a
// malformed Authorization header.
std::string extract_token(const incoming_request& in, bool& bad) {
  bad = false;
  if (auto it = in.headers.find("authorization"); it != in.headers.end()) {
    std::string_view v = it->second;
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) {
      auto token = v.substr(7);
      while (!token.empty() && token.front() == ' ')
        token.remove_prefix(1);
      while (!token.empty() && token.back() == ' ')
        token.remove_suffix(1);
      if (!token.empty())
        return std::string{token};
    }
    bad = true;
    return {};
  }
  if (auto it = in.headers.find("x-api-key"); it != in.headers.end() && !it->second.empty())
    return it->second;
  return {};
}

bool is_json_content_type(std::string_view ct) {
  return text::iequals(text::trim(ct.substr(0, ct.find(';'))), "application/json");
}

// Routing, decided on the io thread (the session matched the route): 404,
// or 405 with Allow.
std::optional<api_response> route_request(incoming_request& in, match_result& m) {
  m = std::move(in.matched);
  if (m.kind == match_result::not_found)
    return error_response(404, "not_found", "no route for " + in.path, in.request_id);
  if (m.kind == match_result::method_not_allowed) {
    auto r = error_response(405, "method_not_allowed",
                            in.method + " is not allowed on " + in.path, in.request_id);
    r.headers["Allow"] = m.allow;
    return r;
  }
  return std::nullopt;
}

// Media type and JSON syntax of a route that takes a body.
std::optional<api_response> check_body(const incoming_request& in, const route& rt) {
  if (!rt.takes_body)
    return std::nullopt;
  if (!in.body.empty() && !is_json_content_type(in.content_type))
    return error_response(415, "unsupported_media_type",
                          "request body must be application/json", in.request_id);
  std::string problem;
  if (in.body.empty() && rt.body_optional)
    return std::nullopt;
  if (in.body.empty())
    return error_response(400, "invalid_json", "request body must be a JSON object",
                          in.request_id);
  // A large body (an import) is checked where it is read, on a store
  // worker: checking 32 MiB here would stall this io thread's connections.
  if (rt.large_body)
    return std::nullopt;
  if (rt.target_parses_body ? !input::shallow_json(in.body, problem)
                            : !input::well_formed_json(in.body, problem))
    return error_response(400, "invalid_json", problem, in.request_id);
  return std::nullopt;
}

} // namespace

void register_statements() {
  runtime::register_statement(
      "troupe.api_key_lookup",
      "SELECT k.id, k.key_hash, k.revoked_at IS NOT NULL, coalesce(k.expires_at <= now(), false),"
      " u.id, u.email, array_to_json(k.scopes)::text, u.is_active,"
      " coalesce(k.rate_limit_per_minute, 0)"
      " FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.prefix = $1");
  runtime::register_statement("troupe.api_key_touch",
                              "UPDATE api_keys SET last_used_at = now() WHERE id = $1");
}

credential_actor spawn_verifier(caf::actor_system& sys, store_actor store, std::string jwt_secret,
                                std::shared_ptr<credential_cache> cache) {
  return sys.spawn(verifier, std::move(store), std::move(jwt_secret), std::move(cache));
}

std::optional<api_response> screen(incoming_request in, const std::string& jwt_secret,
                                   const credential_cache& cache, screened_request& ex) {
  match_result m;
  if (auto early = route_request(in, m))
    return early;
  ex.body_error = check_body(in, *m.matched);
  if (ex.body_error && !m.matched->authenticated)
    return std::move(ex.body_error);
  if (!parse_query(in.query, ex.req.query))
    return error_response(400, "invalid_argument",
                          "malformed query string: a bad %-escape, invalid UTF-8 or U+0000",
                          in.request_id);
  ex.rt = m.matched;
  ex.req.request_id = in.request_id;
  ex.req.method = m.matched->method; // HEAD is answered by the GET route
  ex.req.op = m.matched->handler;
  ex.req.route = m.matched->path;
  ex.req.params = std::move(m.params);
  ex.req.client_address = std::move(in.client_address);
  for (auto name : {"idempotency-key", "last-event-id", "origin", "host", "mcp-protocol-version",
                    "mcp-method", "mcp-name"})
    if (auto it = in.headers.find(name); it != in.headers.end())
      ex.req.headers[name] = it->second;
  ex.req.body = std::move(in.body);
  if (!m.matched->authenticated)
    return std::nullopt;
  bool bad_header = false;
  ex.token = extract_token(in, bad_header);
  // Browsers cannot set headers on EventSource or WebSocket requests: the
  // event streams also take the credential as ?access_token= (never
  // logged: request logs carry the path without the query).
  if (m.matched->target == service::events) {
    auto q = ex.req.query.find("access_token");
    if (q != ex.req.query.end()) {
      if (ex.token.empty() && !bad_header)
        ex.token = q->second;
      ex.req.query.erase(q);
    }
  }
  if (bad_header)
    return error_response(401, "unauthenticated",
                          "Authorization must be 'Bearer <token or API key>'", in.request_id);
  if (ex.token.empty())
    return error_response(401, "unauthenticated",
                          "credentials are required: send Authorization: Bearer "
                          "<token or API key> or X-API-Key",
                          in.request_id);
  if (auto refused = authenticate_here(ex, jwt_secret, cache))
    return error_response(401, "unauthenticated", *refused, in.request_id);
  if (!ex.needs_verification)
    return refuse_after_auth(ex);
  return std::nullopt;
}

gateway_bridge make_bridge(caf::actor_system& sys, gateway_targets targets, std::string jwt_secret,
                           std::shared_ptr<auth::credential_cache> cache, const std::string& version,
                           request_limits limits) {
  auto counts = std::make_shared<credential_counts>(limits);
  auto direct = targets.ingestion_direct;
  auto handle = std::make_shared<bridge_actor>(sys.spawn(bridge, std::move(targets), counts));
  gateway_bridge out;
  out.actor = caf::actor_cast<caf::actor>(*handle);
  out.release = [handle] { *handle = nullptr; };
  auto openapi = std::make_shared<const api_response>(json_response(200, json::parse(openapi_json(version))));
  out.dispatch = [handle, direct, jwt_secret, cache, openapi, counts](incoming_request in,
                                                                      responder reply) {
    exchange ex;
    if (in.matched.kind == match_result::found && in.matched.matched->target == service::dashboard) {
      auto etag = in.headers.find("if-none-match");
      return reply(dashboard_response(in.matched.params.empty() ? "" : in.matched.params[0],
                                      etag == in.headers.end() ? "" : etag->second, in.request_id));
    }
    auto answer = screen(std::move(in), jwt_secret, *cache, ex.in);
    // Authenticated here (a JWT, a cached key): counted, even when refused
    // for its scope or its body.
    if (!ex.in.req.caller.user_id.empty())
      if (auto over = count_request(*counts, ex.in, reply))
        return reply(std::move(*over));
    if (answer)
      return reply(std::move(*answer));
    if (ex.in.rt->target == service::openapi)
      return reply(*openapi);
    if (direct && !ex.in.needs_verification && ex.in.req.op == endpoint::record_outcome)
      return caf::anon_send(direct, direct_request{std::move(ex.in.req),
                                                   [reply = std::move(reply)](api_response r) {
                                                     reply(std::move(r));
                                                   }});
    ex.reply = std::move(reply);
    caf::anon_send(*handle, std::move(ex));
  };
  return out;
}

gateway_bridge make_health_bridge(caf::actor_system& sys, api_actor system,
                                  const std::string& version) {
  gateway_targets only_system;
  only_system.system = std::move(system);
  auto out = make_bridge(sys, std::move(only_system), "",
                         std::make_shared<credential_cache>(std::chrono::milliseconds{0}), version);
  out.dispatch = [inner = std::move(out.dispatch)](incoming_request in, responder reply) {
    if (in.path != "/healthz" && in.path != "/readyz" && in.path != "/metrics")
      return reply(error_response(404, "not_found",
                                  "this is a worker node: it answers only /healthz, /readyz and "
                                  "/metrics; send API requests to a gateway",
                                  in.request_id));
    inner(std::move(in), std::move(reply));
  };
  return out;
}

} // namespace troupe::gateway
