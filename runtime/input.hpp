// Strict reading of request input for domain handlers. Every function throws
// api_error with the documented status and `details.field` on bad input, so
// a handler reads its input first and touches the database only after.
#pragma once

#include "messages/api_error.hpp"
#include "messages/api_types.hpp"

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pqxx {
class result;
}

namespace troupe::input {

// Nesting deeper than this is refused before parsing.
constexpr int max_json_depth = 64;

// The body as a JSON object (400 invalid_json otherwise, including empty).
nlohmann::json object_body(const api_request& req);

// True when `text` is JSON within max_json_depth; sets `error` otherwise.
bool well_formed_json(std::string_view text, std::string& error);

// Only the depth half of well_formed_json, for a body parsed later anyway.
bool shallow_json(std::string_view text, std::string& error);

// An RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)), or with
// `date_alone` also YYYY-MM-DD, naming a real date and time with an offset
// Postgres takes (±15:59): what passes is never a cast error in the database.
bool is_timestamp(std::string_view text, bool date_alone = false);

// Refuses members not in `allowed` (400 naming the first unknown field).
void only_fields(const nlohmann::json& obj, std::initializer_list<std::string_view> allowed);

// Lengths of a string member: characters are code points (the JSON text is
// valid UTF-8 by then), bytes its UTF-8 size. 0 means no upper limit.
struct text_limits {
  std::size_t min_chars = 0; // 400 below
  std::size_t max_bytes = 0; // 413 above
  std::size_t max_chars = 0; // 413 above
};

// A string member. Missing or null → nullopt, or 400 when `required`.
std::optional<std::string> string_field(const nlohmann::json& obj, const std::string& field,
                                        text_limits limits, bool required);

std::optional<std::int64_t> int_field(const nlohmann::json& obj, const std::string& field,
                                      std::int64_t min, std::int64_t max, bool required);

std::optional<bool> bool_field(const nlohmann::json& obj, const std::string& field);

// An array of strings; each at most `max_item_bytes`, at most `max_items`.
std::optional<std::vector<std::string>> string_list_field(const nlohmann::json& obj,
                                                          const std::string& field,
                                                          std::size_t max_items,
                                                          std::size_t max_item_bytes);

// Path parameter `index` as a UUID (400 naming `field` otherwise).
std::string uuid_param(const api_request& req, std::size_t index, const std::string& field);

// Path parameter as a positive integer (400 otherwise).
std::int64_t positive_param(const api_request& req, std::size_t index, const std::string& field);

// An integer query parameter in min..max (400 naming it otherwise);
// nullopt when absent.
std::optional<std::int64_t> int_query(const api_request& req, const std::string& name,
                                      std::int64_t min, std::int64_t max);

// ?limit= (1..max, default `fallback`).
int limit_query(const api_request& req, int fallback = 50, int max = 200);

// Opaque cursors: base64url of a value the handler chose.
std::string encode_cursor(const std::string& value);
// The cursor's value, nullopt when absent; 400 when malformed.
std::optional<std::string> cursor_query(const api_request& req);

// A page of a listing queried with LIMIT limit+1: column 0 is the item's
// JSON, column 1 its sort key; the extra row means there is a next page.
// Returns {items, next_cursor}.
nlohmann::json page(const pqxx::result& rows, int limit);

// An enum query parameter (400 listing the allowed values).
std::optional<std::string> enum_query(const api_request& req, const std::string& name,
                                      std::initializer_list<std::string_view> allowed);

} // namespace troupe::input
