// The API's error vocabulary (api.md, Errors) and the one function that turns
// an error into a response body. Handlers throw api_error; the layer that
// runs them catches it and answers with error_response().
#pragma once

#include "messages/api.hpp"
#include "messages/error_code.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace troupe {

struct api_error : std::runtime_error {
  std::uint16_t status;
  std::string code;
  std::string field; // details.field, when one field is at fault

  api_error(std::uint16_t s, std::string c, const std::string& message, std::string f = {})
      : std::runtime_error(message), status(s), code(std::move(c)), field(std::move(f)) {}
};

inline api_error invalid_argument(const std::string& field, const std::string& message) {
  return {400, "invalid_argument", message, field};
}
inline api_error not_found(const std::string& what) {
  return {404, "not_found", what + " not found"};
}
inline api_error conflict(const std::string& message) { return {409, "conflict", message}; }
inline api_error unauthenticated(const std::string& message) {
  return {401, "unauthenticated", message};
}

inline api_response error_response(std::uint16_t status, const std::string& code,
                                   const std::string& message, const std::string& request_id,
                                   const std::string& field = {}) {
  nlohmann::json err = {{"code", code}, {"message", message}, {"request_id", request_id}};
  err["details"] = field.empty() ? nlohmann::json::object() : nlohmann::json{{"field", field}};
  api_response r;
  r.status = status;
  r.body = nlohmann::json{{"error", err}}.dump(-1, ' ', false,
                                                nlohmann::json::error_handler_t::replace);
  if (status == 503)
    r.headers["Retry-After"] = "1";
  return r;
}

inline api_response error_response(const api_error& e, const std::string& request_id) {
  return error_response(e.status, e.code, e.what(), request_id, e.field);
}

// The answer to an error value: a troupe error with its api.md status, code,
// message and field; any other error (a dead actor, a CAF timeout) is a bug
// and says no more than "internal error" (the caller logs it).
inline api_response error_response(const caf::error& e, const std::string& request_id) {
  auto code = code_of(e);
  if (code == errc::internal || e.category() != error_category())
    return error_response(500, "internal", "internal error", request_id);
  auto message = message_of(e);
  if (code == errc::unavailable && message.empty())
    message = "the service is unavailable; retry shortly";
  return error_response(http_status(code), to_string(code), message, request_id, field_of(e));
}

// An api_error as an error value (the status picks the code when the code
// is not one of api.md's).
inline caf::error to_error(const api_error& e) {
  return make_error(errc_of_status(e.status, e.code), e.what(), e.field);
}

inline api_response json_response(std::uint16_t status, const nlohmann::json& body) {
  api_response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

inline api_response no_content() {
  api_response r;
  r.status = 204;
  return r;
}

} // namespace troupe
