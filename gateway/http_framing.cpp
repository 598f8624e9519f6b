#include "gateway/http_framing.hpp"

#include "text/ascii.hpp"

#include <algorithm>

namespace troupe::gateway {
namespace {

namespace beast = boost::beast;

// Optional whitespace around a field value or list member (RFC 9110 §5.6.3):
// spaces and tabs only.
std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// The comma-separated members of every field named `name`, trimmed; empty
// members kept, so that "chunked," is not mistaken for "chunked".
std::vector<std::string_view> members(const http::fields& f, std::string_view name) {
  std::vector<std::string_view> out;
  auto [first, last] = f.equal_range(beast::string_view{name.data(), name.size()});
  for (auto it = first; it != last; ++it) {
    std::string_view value{it->value().data(), it->value().size()};
    std::size_t start = 0;
    for (;;) {
      auto comma = value.find(',', start);
      out.push_back(trim_ows(value.substr(start, comma - start)));
      if (comma == std::string_view::npos)
        break;
      start = comma + 1;
    }
  }
  return out;
}

} // namespace

void limit_parser(request_parser& parser, const http_server_options& opts) {
  // The largest any route takes: Beast checks a Content-Length against the
  // limit while it reads the head, before the route is known. The session
  // sets the route's own limit once it has the head (session::admit_body).
  parser.body_limit(std::max(opts.max_body_bytes, opts.large_body_bytes));
  parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
}

std::size_t route_body_limit(const match_result& m, const http_server_options& opts) {
  if (m.kind == match_result::found && m.matched->large_body)
    return std::max(opts.large_body_bytes, opts.max_body_bytes);
  return opts.max_body_bytes;
}

std::optional<framing_problem> check_head(const http::request_header<>& head) {
  if (head.find(http::field::transfer_encoding) == head.end())
    return std::nullopt;
  if (head.version() < 11)
    return framing_problem{400, "invalid_argument",
                           "Transfer-Encoding is not allowed in an HTTP/1.0 request"};
  auto codings = members(head, "transfer-encoding");
  if (codings.size() != 1 || !text::iequals(codings.front(), "chunked"))
    return framing_problem{400, "invalid_argument",
                           "Transfer-Encoding must be \"chunked\" alone: other transfer codings "
                           "are not supported"};
  return std::nullopt;
}

framing_problem problem_of(const beast::error_code& ec) {
  if (ec == http::error::body_limit)
    return {413, "payload_too_large", "request body exceeds the server's limit"};
  if (ec == http::error::header_limit)
    return {413, "payload_too_large", "request headers exceed the server's limit"};
  return {400, "invalid_argument", "malformed HTTP request: " + ec.message()};
}

std::size_t skip_empty_lines(beast::flat_buffer& buffer) {
  auto data = buffer.data();
  auto* p = static_cast<const char*>(data.data());
  std::size_t n = 0;
  while (n < data.size() && (p[n] == '\r' || p[n] == '\n'))
    ++n;
  buffer.consume(n);
  return n;
}

bool expects_continue(const http::request_header<>& head) {
  auto it = head.find(http::field::expect);
  return it != head.end() && head.version() >= 11 &&
         text::iequals(trim_ows({it->value().data(), it->value().size()}), "100-continue");
}

std::string client_address(const boost::asio::ip::address& peer, const http::fields& headers,
                           const std::vector<boost::asio::ip::address>& trusted_proxies) {
  auto trusted = [&](const boost::asio::ip::address& a) {
    return std::find(trusted_proxies.begin(), trusted_proxies.end(), a) != trusted_proxies.end();
  };
  if (!trusted(peer))
    return peer.to_string();
  auto hops = members(headers, "x-forwarded-for");
  auto client = peer;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address(std::string(*it), ec);
    if (ec)
      break; // a malformed hop: trust nothing before it
    client = a;
    if (!trusted(a))
      break;
  }
  return client.to_string();
}

incoming_request to_incoming(http::request<http::string_body>& req, std::string client_address) {
  auto target = std::string_view{req.target().data(), req.target().size()};
  auto matched = match(std::string_view{req.method_string().data(), req.method_string().size()},
                       target.substr(0, target.find('?')));
  return to_incoming(req, std::move(client_address), std::move(matched));
}

incoming_request to_incoming(http::request<http::string_body>& req, std::string client_address,
                             match_result matched) {
  incoming_request in;
  in.method = std::string{req.method_string()};
  auto target = std::string_view{req.target().data(), req.target().size()};
  auto q = target.find('?');
  in.path = std::string{target.substr(0, q)};
  if (q != target.npos)
    in.query = std::string{target.substr(q + 1)};
  for (const auto& field : req)
    in.headers[text::lower({field.name_string().data(), field.name_string().size()})] =
        std::string{field.value()};
  in.request_id = request_id_for(in.headers["x-request-id"]);
  in.content_type = in.headers["content-type"];
  in.client_address = std::move(client_address);
  in.body = std::move(req.body());
  in.matched = std::move(matched);
  return in;
}

std::string serialize_response(const api_response& r, std::string_view request_id,
                               response_framing how) {
  auto status = static_cast<unsigned>(r.status);
  std::string out;
  out.reserve(192 + r.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  auto reason = http::obsolete_reason(http::int_to_status(status));
  out.append(reason.data(), reason.size());
  out += "\r\nServer: troupe\r\nX-Request-Id: ";
  out += request_id;
  out += "\r\n";
  bool typed = false;
  for (const auto& [name, value] : r.headers) {
    if (boost::beast::iequals(name, "Server") || boost::beast::iequals(name, "X-Request-Id") ||
        boost::beast::iequals(name, "Content-Length") || boost::beast::iequals(name, "Connection"))
      continue; // framed here
    typed = typed || boost::beast::iequals(name, "Content-Type");
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!r.body.empty() && !typed)
    out += "Content-Type: application/json; charset=utf-8\r\n";
  bool bodyless_status = status < 200 || status == 204 || status == 304;
  if (!bodyless_status && !how.no_length) {
    out += "Content-Length: ";
    out += std::to_string(r.body.size());
    out += "\r\n";
  }
  if (!how.keep_alive)
    out += "Connection: close\r\n";
  out += "\r\n";
  if (!how.head && !bodyless_status)
    out += r.body;
  return out;
}

} // namespace troupe::gateway
