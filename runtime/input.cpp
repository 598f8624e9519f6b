#include "runtime/input.hpp"

#include "runtime/crypto.hpp"
#include "text/ascii.hpp"
#include "text/utf8.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <pqxx/result>
#include <charconv>

namespace troupe::input {
namespace {

std::string join(std::initializer_list<std::string_view> items) {
  std::string out;
  for (auto i : items)
    out += (out.empty() ? "" : ", ") + std::string{i};
  return out;
}

bool parse_int(std::string_view text, std::int64_t& out) {
  if (text.empty())
    return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

bool digits(std::string_view s, std::size_t at, std::size_t n) {
  if (at + n > s.size())
    return false;
  for (std::size_t i = at; i < at + n; ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i])))
      return false;
  return true;
}

int number(std::string_view s, std::size_t at, std::size_t n) {
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i)
    v = v * 10 + (s[i] - '0');
  return v;
}

} // namespace

// YYYY-MM-DD, or an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)),
// with a real calendar date and time: the database must never be handed a
// value it refuses to cast (that would be a 500, not the caller's 400).
bool is_timestamp(std::string_view s, bool date_alone) {
  if (!(digits(s, 0, 4) && s.size() >= 10 && s[4] == '-' && digits(s, 5, 2) && s[7] == '-' &&
        digits(s, 8, 2)))
    return false;
  std::chrono::year_month_day date{std::chrono::year{number(s, 0, 4)},
                                   std::chrono::month{static_cast<unsigned>(number(s, 5, 2))},
                                   std::chrono::day{static_cast<unsigned>(number(s, 8, 2))}};
  if (!date.ok() || number(s, 0, 4) < 1)
    return false;
  if (s.size() == 10)
    return date_alone;
  if (!(s.size() >= 20 && (s[10] == 'T' || s[10] == 't') && digits(s, 11, 2) && s[13] == ':' &&
        digits(s, 14, 2) && s[16] == ':' && digits(s, 17, 2)))
    return false;
  if (number(s, 11, 2) > 23 || number(s, 14, 2) > 59 || number(s, 17, 2) > 59)
    return false;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
      ++i;
    if (i == start)
      return false;
  }
  auto zone = s.substr(i);
  return zone == "Z" || zone == "z" ||
         (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && digits(zone, 1, 2) &&
          zone[3] == ':' && digits(zone, 4, 2) && number(zone, 1, 2) <= 15 &&
          number(zone, 4, 2) <= 59);
}


namespace {

// Nesting depth is checked before parsing: the parser must never see input
// that could exhaust the stack of whoever later walks the document.
bool shallow_enough(std::string_view text, std::string& error) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_json_depth) {
        error = "JSON nesting is deeper than " + std::to_string(max_json_depth);
        return false;
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

} // namespace

bool shallow_json(std::string_view text, std::string& error) { return shallow_enough(text, error); }

bool well_formed_json(std::string_view text, std::string& error) {
  if (!shallow_enough(text, error))
    return false;
  if (!nlohmann::json::accept(text)) {
    error = "request body is not valid JSON";
    return false;
  }
  return true;
}

namespace {

bool holds_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Where the first string (member name or value) holding U+0000 is, which no
// text column of Postgres can store: its path ("metadata.key[2]"), or
// nothing. A member name with U+0000 is shown with it as "\0".
std::optional<std::string> nul_at(const nlohmann::json& doc, const std::string& path) {
  if (doc.is_string())
    return holds_nul(doc.get_ref<const std::string&>()) ? std::optional<std::string>{path}
                                                        : std::nullopt;
  if (doc.is_object()) {
    for (const auto& [key, value] : doc.items()) {
      std::string shown;
      for (char c : key)
        shown += c == '\0' ? std::string{"\\0"} : std::string(1, c);
      auto here = path.empty() ? shown : path + "." + shown;
      if (holds_nul(key))
        return here;
      if (auto found = nul_at(value, here))
        return found;
    }
  } else if (doc.is_array()) {
    for (std::size_t i = 0; i < doc.size(); ++i)
      if (auto found = nul_at(doc[i], path + "[" + std::to_string(i) + "]"))
        return found;
  }
  return std::nullopt;
}

} // namespace

nlohmann::json object_body(const api_request& req) {
  std::string error;
  if (req.body.empty())
    throw api_error(400, "invalid_json", "request body must be a JSON object");
  if (!shallow_enough(req.body, error))
    throw api_error(400, "invalid_json", error);
  auto doc = nlohmann::json::parse(req.body, nullptr, false);
  if (doc.is_discarded())
    throw api_error(400, "invalid_json", "request body is not valid JSON");
  if (!doc.is_object())
    throw api_error(400, "invalid_json", "request body must be a JSON object");
  if (auto path = nul_at(doc, "")) {
    auto field = path->substr(0, path->find_first_of(".["));
    throw invalid_argument(field, *path + " contains U+0000, which cannot be stored");
  }
  return doc;
}

void only_fields(const nlohmann::json& obj, std::initializer_list<std::string_view> allowed) {
  for (auto& [key, value] : obj.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      throw invalid_argument(key, "unknown field '" + key + "'; allowed: " + join(allowed));
}

std::optional<std::string> string_field(const nlohmann::json& obj, const std::string& field,
                                        text_limits limits, bool required) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) {
    if (required)
      throw invalid_argument(field, field + " is required");
    return std::nullopt;
  }
  if (!it->is_string())
    throw invalid_argument(field, field + " must be a string");
  auto value = it->get<std::string>();
  if (limits.max_bytes && value.size() > limits.max_bytes)
    throw api_error(413, "payload_too_large",
                    field + " is longer than " + std::to_string(limits.max_bytes) + " bytes",
                    field);
  auto chars = text::code_points(value);
  if (limits.max_chars && chars > limits.max_chars)
    throw api_error(413, "payload_too_large",
                    field + " is longer than " + std::to_string(limits.max_chars) + " characters",
                    field);
  if (chars < limits.min_chars)
    throw invalid_argument(field, limits.min_chars == 1
                                      ? field + " must not be empty"
                                      : field + " must be at least " +
                                            std::to_string(limits.min_chars) + " characters");
  return value;
}

std::optional<std::int64_t> int_field(const nlohmann::json& obj, const std::string& field,
                                      std::int64_t min, std::int64_t max, bool required) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) {
    if (required)
      throw invalid_argument(field, field + " is required");
    return std::nullopt;
  }
  if (!it->is_number_integer())
    throw invalid_argument(field, field + " must be an integer");
  auto range = field + " must be between " + std::to_string(min) + " and " + std::to_string(max);
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max))
    throw invalid_argument(field, range);
  auto v = it->get<std::int64_t>();
  if (v < min || v > max)
    throw invalid_argument(field, range);
  return v;
}

std::optional<bool> bool_field(const nlohmann::json& obj, const std::string& field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null())
    return std::nullopt;
  if (!it->is_boolean())
    throw invalid_argument(field, field + " must be true or false");
  return it->get<bool>();
}

std::optional<std::vector<std::string>> string_list_field(const nlohmann::json& obj,
                                                          const std::string& field,
                                                          std::size_t max_items,
                                                          std::size_t max_item_bytes) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null())
    return std::nullopt;
  if (!it->is_array())
    throw invalid_argument(field, field + " must be an array of strings");
  if (it->size() > max_items)
    throw api_error(413, "payload_too_large",
                    field + " has more than " + std::to_string(max_items) + " items", field);
  std::vector<std::string> out;
  for (auto& item : *it) {
    if (!item.is_string())
      throw invalid_argument(field, field + " must be an array of strings");
    if (item.get_ref<const std::string&>().size() > max_item_bytes)
      throw api_error(413, "payload_too_large",
                      "an item of " + field + " is longer than " +
                          std::to_string(max_item_bytes) + " bytes",
                      field);
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string uuid_param(const api_request& req, std::size_t index, const std::string& field) {
  if (index >= req.params.size() || !crypto::is_uuid(req.params[index]))
    throw invalid_argument(field, field + " must be a UUID");
  return text::lower(req.params[index]);
}

std::int64_t positive_param(const api_request& req, std::size_t index, const std::string& field) {
  std::int64_t v = 0;
  if (index >= req.params.size() || !parse_int(req.params[index], v) || v < 1 ||
      v > 2147483647)
    throw invalid_argument(field, field + " must be a positive integer");
  return v;
}

std::optional<std::int64_t> int_query(const api_request& req, const std::string& name,
                                      std::int64_t min, std::int64_t max) {
  auto it = req.query.find(name);
  if (it == req.query.end())
    return std::nullopt;
  std::int64_t v = 0;
  if (!parse_int(it->second, v) || v < min || v > max)
    throw invalid_argument(name, name + " must be an integer between " + std::to_string(min) +
                                     " and " + std::to_string(max));
  return v;
}

int limit_query(const api_request& req, int fallback, int max) {
  return static_cast<int>(int_query(req, "limit", 1, max).value_or(fallback));
}

std::string encode_cursor(const std::string& value) { return crypto::base64url_encode(value); }

std::optional<std::string> cursor_query(const api_request& req) {
  auto it = req.query.find("cursor");
  if (it == req.query.end() || it->second.empty())
    return std::nullopt;
  auto decoded = crypto::base64url_decode(it->second);
  if (!decoded)
    throw invalid_argument("cursor", "cursor is not one this server issued");
  return decoded;
}

nlohmann::json page(const pqxx::result& rows, int limit) {
  auto items = nlohmann::json::array();
  nlohmann::json next = nullptr;
  for (int i = 0; i < static_cast<int>(rows.size()); ++i) {
    if (i == limit) {
      next = encode_cursor(rows[i - 1][1].c_str());
      break;
    }
    items.push_back(nlohmann::json::parse(rows[i][0].c_str()));
  }
  return {{"items", items}, {"next_cursor", next}};
}

std::optional<std::string> enum_query(const api_request& req, const std::string& name,
                                      std::initializer_list<std::string_view> allowed) {
  auto it = req.query.find(name);
  if (it == req.query.end())
    return std::nullopt;
  if (std::find(allowed.begin(), allowed.end(), it->second) == allowed.end())
    throw invalid_argument(name, name + " must be one of " + join(allowed));
  return it->second;
}

} // namespace troupe::input
