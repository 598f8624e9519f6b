// The API's error vocabulary as exceptions (api.md, Errors) and the
// functions that build response bodies. Handlers and request readers throw
// api_error; the layer that runs them answers with error_response(). No
// CAF: pure request readers include this; messages/errors.hpp adds the
// mapping of error values (caf::error) to responses.
#pragma once

#include "messages/api_types.hpp"

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
