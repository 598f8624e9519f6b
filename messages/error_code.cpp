#include "messages/error_code.hpp"

#include <array>

namespace troupe {
namespace {

struct code_row {
  errc code;
  const char* name;
  std::uint16_t status;
};

// api.md, Errors: one row per code, in the enum's order.
constexpr std::array<code_row, 12> codes{{
    {errc::invalid_json, "invalid_json", 400},
    {errc::invalid_argument, "invalid_argument", 400},
    {errc::unauthenticated, "unauthenticated", 401},
    {errc::permission_denied, "permission_denied", 403},
    {errc::not_found, "not_found", 404},
    {errc::conflict, "conflict", 409},
    {errc::payload_too_large, "payload_too_large", 413},
    {errc::unprocessable, "unprocessable", 422},
    {errc::rate_limited, "rate_limited", 429},
    {errc::unavailable, "unavailable", 503},
    {errc::lease_lost, "lease_lost", 409},
    {errc::internal, "internal", 500},
}};

const code_row& row_of(errc code) {
  auto i = static_cast<std::size_t>(code) - 1;
  return i < codes.size() ? codes[i] : codes.back();
}

} // namespace

std::string to_string(errc code) { return row_of(code).name; }

std::uint16_t http_status(errc code) { return row_of(code).status; }

errc errc_of_status(std::uint16_t status, const std::string& code) {
  for (const auto& r : codes)
    if (code == r.name)
      return r.code;
  for (const auto& r : codes)
    if (status == r.status && r.code != errc::lease_lost)
      return r.code;
  return errc::internal;
}

caf::error make_error(errc code, std::string message, std::string field) {
  auto context = field.empty() ? caf::make_message(std::move(message))
                               : caf::make_message(std::move(message), std::move(field));
  return {static_cast<std::uint8_t>(code), error_category(), std::move(context)};
}

errc code_of(const caf::error& e) {
  if (e.category() != error_category() || e.code() < 1 || e.code() > codes.size())
    return errc::internal;
  return static_cast<errc>(e.code());
}

std::string message_of(const caf::error& e) {
  const auto& ctx = e.context();
  if (e.category() == error_category() && ctx.size() >= 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return caf::to_string(e);
}

std::string field_of(const caf::error& e) {
  const auto& ctx = e.context();
  if (e.category() == error_category() && ctx.size() >= 2 && ctx.match_element<std::string>(1))
    return ctx.get_as<std::string>(1);
  return {};
}

} // namespace troupe
