// Errors as values: the troupe error category, and the one mapping from an
// error value to api.md's status, code, message and field.
#include "messages/errors.hpp"

#include <gtest/gtest.h>

using namespace troupe;

namespace {

nlohmann::json body_of(const api_response& r) { return nlohmann::json::parse(r.body); }

TEST(Errors, EveryCodeMapsToItsApiStatusAndName) {
  struct row {
    errc code;
    int status;
    const char* name;
  };
  for (auto [code, status, name] : {row{errc::invalid_json, 400, "invalid_json"},
                                    row{errc::invalid_argument, 400, "invalid_argument"},
                                    row{errc::unauthenticated, 401, "unauthenticated"},
                                    row{errc::permission_denied, 403, "permission_denied"},
                                    row{errc::not_found, 404, "not_found"},
                                    row{errc::conflict, 409, "conflict"},
                                    row{errc::payload_too_large, 413, "payload_too_large"},
                                    row{errc::unprocessable, 422, "unprocessable"},
                                    row{errc::rate_limited, 429, "rate_limited"},
                                    row{errc::unavailable, 503, "unavailable"}}) {
    auto r = error_response(make_error(code, "why", "field"), "rid");
    EXPECT_EQ(r.status, status) << name;
    auto err = body_of(r)["error"];
    EXPECT_EQ(err["code"], name);
    EXPECT_EQ(err["message"], "why");
    EXPECT_EQ(err["details"]["field"], "field");
    EXPECT_EQ(err["request_id"], "rid");
  }
  EXPECT_EQ(error_response(make_error(errc::unavailable), "r").headers.at("Retry-After"), "1");
}

TEST(Errors, BugsSayNoMoreThanInternal) {
  for (const auto& e : {make_error(errc::internal, "a stack trace"),
                        caf::error{caf::make_error(caf::sec::request_timeout)}}) {
    auto r = error_response(e, "r");
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(body_of(r)["error"]["message"], "internal error");
  }
}

TEST(Errors, AnApiErrorBecomesTheSameAnswerAsAValue) {
  for (const auto& e : {invalid_argument("name", "name is required"), not_found("playbook"),
                        api_error(413, "payload_too_large", "too long", "content"),
                        api_error(400, "invalid_json", "not JSON")}) {
    EXPECT_EQ(error_response(to_error(e), "r").body, error_response(e, "r").body) << e.what();
  }
  EXPECT_EQ(code_of(to_error(api_error(418, "teapot", "?"))), errc::internal);
}

TEST(Errors, ErrorsOfOtherCategoriesAreNotTroupeCodes) {
  caf::error other = caf::make_error(caf::sec::unexpected_response);
  EXPECT_EQ(code_of(other), errc::internal);
  EXPECT_TRUE(field_of(other).empty());
  EXPECT_EQ(message_of(make_error(errc::conflict, "busy")), "busy");
}

} // namespace
