// Rendering the settings as TOML: the commented example file of every key
// with its default, and the effective configuration with secrets masked.
#include "config/settings.hpp"

#include "config/settings_internal.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace troupe::config {

using namespace settings_internal; // the key registry (settings_internal.hpp)

namespace {

// ---------------------------------------------------------------------------
// Masking. Only the password is hidden so the rest of a connection string
// stays useful when diagnosing which server a node talks to.

constexpr std::string_view mask = "***";

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// In a URL query ("a=1&password=x"), hides the password parameter's value.
std::string mask_query_password(std::string_view query) {
  std::string out;
  while (true) {
    auto amp = query.find('&');
    auto param = query.substr(0, amp);
    auto eq = param.find('=');
    if (eq != std::string_view::npos && param.substr(0, eq) == "password" && eq + 1 < param.size())
      out += std::string(param.substr(0, eq + 1)) + std::string(mask);
    else
      out += param;
    if (amp == std::string_view::npos)
      return out;
    out += '&';
    query.remove_prefix(amp + 1);
  }
}

std::string mask_url_password(const std::string& url) {
  auto authority = url.find("://") + 3;
  auto query = url.find('?', authority);
  std::string out = url.substr(0, query);
  // The last '@' before the query ends the user info; a password may itself hold '@' or '/'.
  auto at = out.rfind('@');
  if (at != std::string::npos && at > authority) {
    auto colon = out.find(':', authority);
    if (colon < at && colon + 1 < at)
      out.replace(colon + 1, at - colon - 1, mask);
  }
  if (query != std::string::npos)
    out += "?" + mask_query_password(std::string_view(url).substr(query + 1));
  return out;
}

// libpq "key = value" form; values may be single-quoted with backslash escapes.
std::string mask_keyword_password(std::string_view conninfo) {
  std::string out;
  std::size_t i = 0;
  const auto n = conninfo.size();
  auto copy_while = [&](auto pred) {
    auto start = i;
    while (i < n && pred(conninfo[i]))
      ++i;
    out += conninfo.substr(start, i - start);
    return conninfo.substr(start, i - start);
  };
  while (i < n) {
    copy_while(is_space);
    auto keyword = copy_while([](char c) { return c != '=' && !is_space(c); });
    copy_while(is_space);
    if (i >= n || conninfo[i] != '=') {
      out += conninfo.substr(i); // malformed; nothing more can be told apart safely
      return out;
    }
    out += conninfo[i++];
    copy_while(is_space);
    auto start = i;
    if (i < n && conninfo[i] == '\'') {
      for (++i; i < n && conninfo[i] != '\''; ++i)
        if (conninfo[i] == '\\')
          ++i;
      i = std::min(i + 1, n);
    } else {
      while (i < n && !is_space(conninfo[i]))
        ++i;
    }
    if (keyword == "password" && i > start)
      out += mask;
    else
      out += conninfo.substr(start, i - start);
  }
  return out;
}

std::string masked(const key_spec& spec, const std::string& text) {
  if (text.empty())
    return text;
  switch (spec.secret) {
  case secrecy::none: return text;
  case secrecy::whole: return std::string(mask);
  case secrecy::password:
    return is_postgres_url(text) ? mask_url_password(text) : mask_keyword_password(text);
  }
  return std::string(mask);
}

// ---------------------------------------------------------------------------
// Rendering.

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\b': out += "\\b"; break;
    case '\t': out += "\\t"; break;
    case '\n': out += "\\n"; break;
    case '\f': out += "\\f"; break;
    case '\r': out += "\\r"; break;
    default:
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        char escape[8];
        std::snprintf(escape, sizeof escape, "\\u%04X", static_cast<unsigned>(c));
        out += escape;
      } else {
        out += c;
      }
    }
  }
  return out + "\"";
}

std::string toml_literal(const value& v) {
  if (auto* text = std::get_if<std::string>(&v))
    return toml_string(*text);
  if (auto* flag = std::get_if<bool>(&v))
    return *flag ? "true" : "false";
  if (auto* x = std::get_if<double>(&v)) {
    // A TOML float needs a fraction or an exponent; "nan" and "inf" are already floats.
    auto text = shortest(*x);
    if (text.find_first_of(".en") == std::string::npos)
      text += ".0";
    return text;
  }
  return std::to_string(std::get<std::int64_t>(v));
}

std::string described(const key_spec& spec) {
  std::string out(spec.description);
  if (spec.type == kind::integer || spec.type == kind::number)
    out += " [" + range_text(spec) + "]";
  if (!spec.allowed.empty())
    out += " [" + std::string(spec.allowed) + "]";
  return out;
}

// Walks the registry in order, opening a TOML table whenever the section
// changes; `line_for(spec, first_in_section)` renders one key.
template <typename LineFor>
std::string render(std::string header, LineFor line_for) {
  std::string out = std::move(header);
  std::string_view current;
  for (const auto& spec : keys()) {
    auto section = section_of(spec.name);
    bool first = section != current;
    if (first) {
      out += "\n[" + std::string(section) + "]\n";
      current = section;
    }
    out += line_for(spec, first);
  }
  return out;
}

} // namespace

std::string example_toml() {
  const settings defaults{};
  return render(
      "# Example configuration of a troupe node. Every key is listed with its default\n"
      "# value; remove the ones you do not change.\n"
      "#\n"
      "# Precedence, lowest to highest: built-in defaults, this file, environment\n"
      "# variables TROUPE_<SECTION>_<KEY> (e.g. TROUPE_SERVER_IO_THREADS), command-line\n"
      "# flags.\n",
      [&](const key_spec& spec, bool first_in_section) {
        // Secrets show "" even if a default existed, so the example never carries one.
        auto shown = spec.secret != secrecy::none ? std::string("\"\"")
                                                  : toml_literal(spec.get(defaults));
        return std::string(first_in_section ? "" : "\n") + "# " + described(spec) +
               " (default: " + shown + ")\n" + std::string(leaf_of(spec.name)) + " = " + shown +
               "\n";
      });
}

std::string effective_toml(const settings& s) {
  return render("# Effective troupe configuration; secrets are masked.\n",
                [&](const key_spec& spec, bool) {
                  auto v = spec.get(s);
                  if (auto* text = std::get_if<std::string>(&v))
                    v = masked(spec, *text);
                  return std::string(leaf_of(spec.name)) + " = " + toml_literal(v) + "\n";
                });
}

} // namespace troupe::config
