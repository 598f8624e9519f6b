// The HTTP/1.1 framing rules the server applies to a request head before it
// reads the body (RFC 9112), the conversion of a parsed request into the
// dispatcher's incoming_request, and the bytes of a response. Pure functions on Beast's types, shared by
// the server's sessions and the fuzz target of the request path.
#pragma once

#include "gateway/http_server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <string>
#include <vector>

namespace troupe::gateway {

namespace http = boost::beast::http;

using request_parser = http::request_parser<http::string_body>;

// Why a request cannot be read on: answered with `status` and the
// connection closed, since its framing can no longer be trusted.
struct framing_problem {
  std::uint16_t status = 400;
  std::string code = "invalid_argument";
  std::string message;
};

// Configures a fresh parser with the server's limits.
void limit_parser(request_parser& parser, const http_server_options& opts);

// The problem of a request head that Beast accepted but troupe must refuse:
// a Transfer-Encoding other than "chunked" alone (RFC 9112 §6.1: a body whose
// final coding is not chunked cannot be delimited; troupe decodes no other
// coding), or any Transfer-Encoding in an HTTP/1.0 request.
std::optional<framing_problem> check_head(const http::request_header<>& head);

// The problem a Beast parse error stands for (413 for the limits, else 400).
framing_problem problem_of(const boost::beast::error_code& ec);

// Consumes CR and LF bytes at the front of `buffer`: empty lines before a
// request line are ignored (RFC 9112 §2.2). Returns how many were consumed.
std::size_t skip_empty_lines(boost::beast::flat_buffer& buffer);

// True when the client waits for "100 Continue" before sending its body.
bool expects_continue(const http::request_header<>& head);

// The client's address: the peer, or — when the peer is one of
// `trusted_proxies` — the right-most X-Forwarded-For entry that is not.
std::string client_address(const boost::asio::ip::address& peer, const http::fields& headers,
                           const std::vector<boost::asio::ip::address>& trusted_proxies);

// The body limit of a matched route: server.max_body_bytes, or for a route
// that takes a large body (an import) the larger limit (session::admit_body).
std::size_t route_body_limit(const match_result& m, const http_server_options& opts);

// The request as the dispatcher sees it (route matched, headers lower-cased).
// Moves the body out of `req`; its head stays, for a WebSocket handshake.
incoming_request to_incoming(http::request<http::string_body>& req, std::string client_address);
// The same with the route already matched (the session matches it on the head).
incoming_request to_incoming(http::request<http::string_body>& req, std::string client_address,
                             match_result matched);

// How an answer is framed on its connection.
struct response_framing {
  bool keep_alive = true; // false: "Connection: close"
  bool head = false;      // a HEAD request: the head alone, with the length a GET would get
  bool no_length = false; // a HEAD of a stream: no Content-Length (it ends with the connection)
};

// The bytes of a response, written by hand (Beast's serializer cost a fifth
// of a small request's instructions): the status line, Server, X-Request-Id,
// the answer's own headers, Content-Type (JSON unless it has its own),
// Content-Length (never for 1xx, 204 or 304), Connection: close when the
// connection ends, then the body.
std::string serialize_response(const api_response& r, std::string_view request_id,
                               response_framing how);

} // namespace troupe::gateway
