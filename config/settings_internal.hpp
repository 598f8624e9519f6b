// The key registry's types and the helpers shared by settings.cpp (loading),
// settings_keys.cpp (the registry) and settings_render.cpp (TOML output); not
// for use elsewhere.
#pragma once

#include "config/settings.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace troupe::config::settings_internal {

// A setting's value, of the type its kind names.
using value = std::variant<std::string, std::int64_t, bool, double>;

// `number` is a finite double; TOML integers are accepted for it.
enum class kind { string, integer, boolean, number };

// `password` keeps a connection string readable while hiding its password.
enum class secrecy { none, whole, password };

// Returns a problem description, or nothing if the value is acceptable.
// Messages must not echo the value: they are also used for secret keys.
using check_fn = std::optional<std::string> (*)(const std::string&);

// Built by the *_key helpers of settings_keys.cpp with designated initializers;
// every member has a default so a helper names only what its kind uses.
struct key_spec {
  std::string_view name{};        // "section.key"
  kind type = kind::string;
  value (*get)(const settings&) = nullptr;
  void (*set)(settings&, const value&) = nullptr;
  std::int64_t min = 0;           // integers only
  std::int64_t max = 0;
  double number_min = 0;          // numbers only
  double number_max = 0;
  std::string_view allowed{};     // "a|b|c" for enumerations, empty otherwise
  check_fn check = nullptr;
  secrecy secret = secrecy::none;
  std::string_view description{}; // one line, without range or default
};

// Every key, grouped by section in the order the renderers print them.
std::span<const key_spec> keys();

// The key named `name` ("server.listen"), or null.
const key_spec* find_key(std::string_view name);

// The key an environment variable (TROUPE_SERVER_LISTEN) names, or null.
const key_spec* find_env_key(std::string_view variable);

// Whether some key is in the section `name`.
bool is_section(std::string_view name);

// Environment variables naming settings start with this.
inline constexpr std::string_view env_prefix = "TROUPE_";

// "server" of "server.listen".
constexpr std::string_view section_of(std::string_view name) {
  return name.substr(0, name.find('.'));
}

// "listen" of "server.listen".
inline std::string_view leaf_of(std::string_view name) { return name.substr(name.find('.') + 1); }

// The shortest text that reads back as exactly `x` ("0.8", "1", "1e-05", "nan").
std::string shortest(double x);

// A numeric key's range as "min..max".
std::string range_text(const key_spec& spec);

// Whether text is a postgres:// or postgresql:// URL.
bool is_postgres_url(std::string_view text);

} // namespace troupe::config::settings_internal
