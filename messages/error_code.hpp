// troupe's error codes as CAF errors of the category "troupe", so an actor
// can answer with an error value that crosses nodes, and the gateway maps it
// to the api.md status in one place. The message travels as the error's
// context (one string).
#pragma once

#include <caf/all.hpp>
#include <cstdint>
#include <string>

namespace troupe {

enum class errc : std::uint8_t {
  invalid_argument = 1,
  not_found,
  conflict,
  unprocessable,
  unavailable, // the database, or a bounded resource such as the password hasher, is saturated
  lease_lost,
  rate_limited,
  internal,
};

std::string to_string(errc code);

// The CAF error category of errc.
inline caf::atom_value error_category() { return caf::atom("troupe"); }

caf::error make_error(errc code, std::string message = {});

// The errc of a troupe error, or internal for any other error.
errc code_of(const caf::error& e);

// The message a troupe error carries; CAF's rendering for other errors.
std::string message_of(const caf::error& e);

} // namespace troupe
