// troupe's errors as responses: the api.md vocabulary (messages/api_error.hpp)
// and the one mapping of an error value (caf::error of the troupe category,
// messages/error_code.hpp) to a status and body.
#pragma once

#include "messages/api.hpp"
#include "messages/api_error.hpp"
#include "messages/error_code.hpp"

#include <string>

namespace troupe {

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

} // namespace troupe
