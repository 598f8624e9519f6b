// Request framing rules on parsed heads: Transfer-Encoding (RFC 9112 §6),
// empty lines before a request (§2.2), Expect, and the client address behind
// trusted proxies.
#include "gateway/http_framing.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <cstring>
#include <gtest/gtest.h>

using namespace troupe::gateway;
namespace beast = boost::beast;

namespace {

http::request_header<> head(std::vector<std::pair<std::string, std::string>> fields,
                            unsigned version = 11) {
  http::request_header<> h;
  h.version(version);
  for (auto& [name, value] : fields)
    h.insert(name, value);
  return h;
}

TEST(HttpFraming, OnlyChunkedAloneIsAcceptedAsTransferEncoding) {
  EXPECT_FALSE(check_head(head({})));
  EXPECT_FALSE(check_head(head({{"Transfer-Encoding", "chunked"}})));
  EXPECT_FALSE(check_head(head({{"Transfer-Encoding", " Chunked "}})));
  for (std::string bad : {"gzip", "identity", "xchunked", "chunked, gzip", "gzip, chunked",
                          "chunked,", ",chunked", ""}) {
    auto p = check_head(head({{"Transfer-Encoding", bad}}));
    ASSERT_TRUE(p) << bad;
    EXPECT_EQ(p->status, 400);
  }
  EXPECT_TRUE(check_head(head({{"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}})));
  auto old = check_head(head({{"Transfer-Encoding", "chunked"}}, 10));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->message, "Transfer-Encoding is not allowed in an HTTP/1.0 request");
}

TEST(HttpFraming, LimitsAre413AndOtherParseErrors400) {
  EXPECT_EQ(problem_of(http::error::body_limit).status, 413);
  EXPECT_EQ(problem_of(http::error::header_limit).code, "payload_too_large");
  EXPECT_EQ(problem_of(http::error::bad_method).status, 400);
}

TEST(HttpFraming, EmptyLinesAreSkipped) {
  beast::flat_buffer b;
  auto put = [&](std::string_view s) {
    auto buf = b.prepare(s.size());
    std::memcpy(buf.data(), s.data(), s.size());
    b.commit(s.size());
  };
  put("\r\n\n\r\nGET / HTTP/1.1\r\n");
  EXPECT_EQ(skip_empty_lines(b), 5u);
  EXPECT_EQ(beast::buffers_to_string(b.data()).substr(0, 3), "GET");
  EXPECT_EQ(skip_empty_lines(b), 0u);
}

TEST(HttpFraming, ExpectContinue) {
  EXPECT_TRUE(expects_continue(head({{"Expect", "100-continue"}})));
  EXPECT_TRUE(expects_continue(head({{"Expect", "100-Continue"}})));
  EXPECT_FALSE(expects_continue(head({{"Expect", "100-continue"}}, 10)));
  EXPECT_FALSE(expects_continue(head({{"Expect", "something-else"}})));
  EXPECT_FALSE(expects_continue(head({})));
}

TEST(HttpFraming, TheClientAddressIsThePeerUnlessTheProxyIsTrusted) {
  auto ip = [](const char* s) { return boost::asio::ip::make_address(s); };
  std::vector<boost::asio::ip::address> proxies{ip("10.0.0.1"), ip("10.0.0.2")};
  auto fields = head({{"X-Forwarded-For", "198.51.100.9, 203.0.113.5, 10.0.0.2"}});
  EXPECT_EQ(client_address(ip("192.0.2.1"), fields, proxies), "192.0.2.1") << "untrusted peer";
  EXPECT_EQ(client_address(ip("10.0.0.1"), fields, proxies), "203.0.113.5");
  EXPECT_EQ(client_address(ip("10.0.0.1"), head({}), proxies), "10.0.0.1");
  EXPECT_EQ(client_address(ip("10.0.0.1"), head({{"X-Forwarded-For", "junk, 203.0.113.5"}}),
                           proxies),
            "203.0.113.5");
  EXPECT_EQ(client_address(ip("10.0.0.1"), head({{"X-Forwarded-For", "203.0.113.5, junk"}}),
                           proxies),
            "10.0.0.1")
      << "nothing before a malformed hop is trusted";
  EXPECT_EQ(client_address(ip("10.0.0.1"), head({{"X-Forwarded-For", "10.0.0.2"}}), proxies),
            "10.0.0.2")
      << "only proxies: the farthest one";
}

} // namespace

// The response bytes are written by hand: what Beast would have framed, and
// what a client parses back.
TEST(HttpResponse, AJsonAnswerOnAKeptConnection) {
  troupe::api_response r;
  r.status = 201;
  r.body = R"({"ok":true})";
  EXPECT_EQ(serialize_response(r, "req-1", {}),
            "HTTP/1.1 201 Created\r\nServer: troupe\r\nX-Request-Id: req-1\r\n"
            "Content-Type: application/json; charset=utf-8\r\nContent-Length: 11\r\n\r\n"
            R"({"ok":true})");
}

TEST(HttpResponse, HeadClosingAndBodilessStatuses) {
  troupe::api_response r;
  r.status = 200;
  r.body = "0123456789";
  r.headers = {{"Allow", "GET, HEAD"}, {"Content-Type", "text/plain"}, {"Content-Length", "9"},
               {"Connection", "keep-alive"}, {"Server", "other"}};
  // A HEAD: the length a GET would get, no body; closing: Connection: close.
  EXPECT_EQ(serialize_response(r, "a", {false, true, false}),
            "HTTP/1.1 200 OK\r\nServer: troupe\r\nX-Request-Id: a\r\nAllow: GET, HEAD\r\n"
            "Content-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\n");
  // The HEAD of a stream has no length at all.
  EXPECT_EQ(serialize_response(r, "a", {true, true, true}).find("Content-Length"),
            std::string::npos);
  troupe::api_response none;
  none.status = 204;
  EXPECT_EQ(serialize_response(none, "b", {}),
            "HTTP/1.1 204 No Content\r\nServer: troupe\r\nX-Request-Id: b\r\n\r\n");
  // What a client makes of it.
  http::response_parser<http::string_body> parser;
  beast::error_code ec;
  auto bytes = serialize_response(r, "c", {});
  std::size_t used = 0;
  while (!ec && !parser.is_done() && used < bytes.size())
    used += parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_done());
  EXPECT_EQ(used, bytes.size());
  EXPECT_EQ(parser.get().body(), "0123456789");
  EXPECT_EQ(parser.get()["X-Request-Id"], "c");
  EXPECT_TRUE(parser.get().keep_alive());
}
