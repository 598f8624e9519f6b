// troupe's errors as values: CAF errors of the category "troupe", so an
// actor can answer with an error that crosses nodes, and the gateway maps it
// to the api.md status and body in one place (messages/errors.hpp,
// error_response). The context carries the message and, for a bad field,
// the field's name.
//
// The codes are api.md's error vocabulary (to_string gives the api.md code),
// plus lease_lost, which never reaches a client: a job's fence refused a
// write because another attempt holds the job now.
#pragma once

#include <caf/all.hpp>
#include <cstdint>
#include <string>

namespace troupe {

enum class errc : std::uint8_t {
  invalid_json = 1,
  invalid_argument,
  unauthenticated,
  permission_denied,
  not_found,
  conflict,
  payload_too_large,
  unprocessable,
  rate_limited,
  unavailable, // the database, or a bounded resource such as the password hasher, is saturated
  lease_lost,
  internal,
};

// The api.md code ("invalid_argument", …; "lease_lost" for lease_lost).
std::string to_string(errc code);

// The HTTP status api.md gives the code (lease_lost, never shown, is 409).
std::uint16_t http_status(errc code);

// The code of an api.md status (the first code listed for it), internal
// for one api.md does not list.
errc errc_of_status(std::uint16_t status, const std::string& code);

// The CAF error category of errc.
inline caf::atom_value error_category() { return caf::atom("troupe"); }

caf::error make_error(errc code, std::string message = {}, std::string field = {});

// The errc of a troupe error, or internal for any other error.
errc code_of(const caf::error& e);

// The message a troupe error carries; CAF's rendering for other errors.
std::string message_of(const caf::error& e);

// The field a troupe error names, or "".
std::string field_of(const caf::error& e);

} // namespace troupe
