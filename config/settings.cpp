// Loading the settings: values from TOML, the environment and flags, each
// validated against the key registry (settings_keys.cpp), then the rules
// between keys. The TOML renderings are in settings_render.cpp.
#include "config/settings.hpp"

#include "config/settings_internal.hpp"
#include "text/ascii.hpp"
#include "text/utf8.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <toml++/toml.h>

extern char** environ;

namespace troupe::config {

using namespace settings_internal; // the key registry (settings_internal.hpp)

namespace {

using troupe::text::lower;

// ---------------------------------------------------------------------------
// Validation.

std::string kind_name(kind k) {
  switch (k) {
  case kind::string: return "string";
  case kind::integer: return "integer";
  case kind::boolean: return "boolean";
  case kind::number: return "number";
  }
  return "value";
}

} // namespace

// The shortest text that reads back as exactly `x` ("0.8", "1", "1e-05", "nan").
std::string settings_internal::shortest(double x) {
  std::array<char, 32> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), x);
  return ec == std::errc{} ? std::string(buffer.data(), end) : std::to_string(x);
}

std::string settings_internal::range_text(const key_spec& spec) {
  if (spec.type == kind::number)
    return shortest(spec.number_min) + ".." + shortest(spec.number_max);
  return std::to_string(spec.min) + ".." + std::to_string(spec.max);
}

namespace {

bool is_allowed(std::string_view allowed, std::string_view candidate) {
  while (true) {
    auto bar = allowed.find('|');
    if (allowed.substr(0, bar) == candidate)
      return true;
    if (bar == std::string_view::npos)
      return false;
    allowed.remove_prefix(bar + 1);
  }
}

std::optional<std::string> validate(const key_spec& spec, const value& v) {
  if (spec.type == kind::integer) {
    auto n = std::get<std::int64_t>(v);
    if (n < spec.min || n > spec.max)
      return std::to_string(n) + " is out of range " + range_text(spec);
  }
  if (spec.type == kind::number) {
    auto x = std::get<double>(v);
    if (!std::isfinite(x))
      return shortest(x) + " is not a finite number";
    if (x < spec.number_min || x > spec.number_max)
      return shortest(x) + " is out of range " + range_text(spec);
  }
  if (spec.type == kind::string) {
    const auto& text = std::get<std::string>(v);
    // Every value must be printable back as TOML, and no setting is binary.
    // (The value is not echoed: the key may be a secret.)
    if (!troupe::text::valid_utf8(text))
      return std::string{"the value is not valid UTF-8"};
    if (troupe::text::has_control_characters(text))
      return std::string{"the value contains control characters"};
    if (!spec.allowed.empty() && !is_allowed(spec.allowed, text))
      return "\"" + text + "\" is not one of " + std::string(spec.allowed);
    if (spec.check)
      return spec.check(text);
  }
  return std::nullopt;
}

std::optional<std::string> apply(const key_spec& spec, const value& v, settings& s) {
  if (auto problem = validate(spec, v))
    return problem;
  spec.set(s, v);
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Values from text (environment and flags).

struct parsed {
  std::optional<value> v;
  std::string problem;
};

parsed parse_integer(const key_spec& spec, const std::string& text) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc::result_out_of_range)
    return {std::nullopt, text + " is out of range " + range_text(spec)};
  if (ec != std::errc{} || end != text.data() + text.size())
    return {std::nullopt, "\"" + text + "\" is not a decimal integer"};
  return {value{std::in_place_type<std::int64_t>, n}, {}};
}

// The whole text, in decimal (no hex, no leading '+' or whitespace), finite.
parsed parse_number(const key_spec& spec, const std::string& text) {
  double x = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x,
                                   std::chars_format::general);
  if (ec == std::errc::result_out_of_range)
    return {std::nullopt, text + " is out of range " + range_text(spec)};
  if (ec != std::errc{} || end != text.data() + text.size())
    return {std::nullopt, "\"" + text + "\" is not a decimal number"};
  if (!std::isfinite(x))
    return {std::nullopt, "\"" + text + "\" is not a finite number"};
  return {value{std::in_place_type<double>, x}, {}};
}

parsed parse_boolean(const std::string& text) {
  auto word = lower(text);
  if (word == "true" || word == "1" || word == "yes")
    return {value{std::in_place_type<bool>, true}, {}};
  if (word == "false" || word == "0" || word == "no")
    return {value{std::in_place_type<bool>, false}, {}};
  return {std::nullopt, "\"" + text + "\" is not a boolean (true/false/1/0/yes/no)"};
}

parsed parse_text(const key_spec& spec, const std::string& text) {
  switch (spec.type) {
  case kind::integer: return parse_integer(spec, text);
  case kind::boolean: return parse_boolean(text);
  case kind::number: return parse_number(spec, text);
  case kind::string: break;
  }
  return {value{std::in_place_type<std::string>, text}, {}};
}

std::optional<std::string> apply_text(const key_spec& spec, const std::string& text,
                                      settings& s) {
  auto p = parse_text(spec, text);
  if (!p.v)
    return p.problem;
  return apply(spec, *p.v, s);
}

bool is_reserved_env(std::string_view name) {
  return name == "TROUPE_CONFIG" || name.starts_with("TROUPE_TEST_");
}

std::optional<std::string> apply_env(const std::map<std::string, std::string>& env,
                                     settings& s) {
  for (const auto& [name, text] : env) {
    if (!name.starts_with(env_prefix) || is_reserved_env(name))
      continue;
    const key_spec* spec = find_env_key(name);
    if (!spec)
      return "unknown environment variable " + name + " (no setting is named by it)";
    if (auto problem = apply_text(*spec, text, s))
      return "environment variable " + name + " (" + std::string(spec->name) + "): " + *problem;
  }
  return std::nullopt;
}

std::optional<std::string> apply_flags(const override_list& flags, settings& s) {
  for (const auto& [name, text] : flags) {
    const key_spec* spec = find_key(name);
    if (!spec)
      return "flag " + name + ": unknown setting";
    if (auto problem = apply_text(*spec, text, s))
      return "flag " + name + ": " + *problem;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Values from TOML.

std::string toml_type_name(toml::node_type type) {
  switch (type) {
  case toml::node_type::string: return "string";
  case toml::node_type::integer: return "integer";
  case toml::node_type::floating_point: return "float";
  case toml::node_type::boolean: return "boolean";
  case toml::node_type::date: return "date";
  case toml::node_type::time: return "time";
  case toml::node_type::date_time: return "date-time";
  case toml::node_type::array: return "array";
  case toml::node_type::table: return "table";
  case toml::node_type::none: break;
  }
  return "nothing";
}

parsed from_node(const key_spec& spec, const toml::node& node) {
  switch (spec.type) {
  case kind::string:
    if (auto* v = node.as_string())
      return {value{std::in_place_type<std::string>, v->get()}, {}};
    break;
  case kind::integer:
    if (auto* v = node.as_integer())
      return {value{std::in_place_type<std::int64_t>, v->get()}, {}};
    break;
  case kind::boolean:
    if (auto* v = node.as_boolean())
      return {value{std::in_place_type<bool>, v->get()}, {}};
    break;
  case kind::number:
    if (auto* v = node.as_floating_point())
      return {value{std::in_place_type<double>, v->get()}, {}};
    if (auto* v = node.as_integer()) // 1 is as good a number as 1.0
      return {value{std::in_place_type<double>, static_cast<double>(v->get())}, {}};
    break;
  }
  return {std::nullopt, "expected " + kind_name(spec.type) + ", got " + toml_type_name(node.type())};
}

struct file_problem {
  toml::source_index line = 0;
  std::string message;
};

// toml++ tables iterate in key order, not file order, so problems are
// collected and the one nearest the top of the file is reported.
class problem_sink {
public:
  explicit problem_sink(std::string origin) : origin_(std::move(origin)) {}

  void add(const toml::source_region& where, const std::string& message) {
    auto line = where.begin.line;
    if (!first_ || line < first_->line)
      first_ = file_problem{line, origin_ + ":" + std::to_string(line) + ": " + message};
  }

  std::optional<std::string> first() const {
    return first_ ? std::optional(first_->message) : std::nullopt;
  }

private:
  std::string origin_;
  std::optional<file_problem> first_;
};

void apply_section(std::string_view section, const toml::table& table, settings& s,
                   problem_sink& problems) {
  for (auto&& [key, node] : table) {
    std::string dotted = std::string(section) + "." + std::string(key.str());
    const key_spec* spec = find_key(dotted);
    if (!spec) {
      problems.add(key.source(), "unknown key '" + dotted + "'");
      continue;
    }
    auto p = from_node(*spec, node);
    auto problem = p.v ? apply(*spec, *p.v, s) : std::optional(p.problem);
    if (problem)
      problems.add(node.source(), dotted + ": " + *problem);
  }
}

std::optional<std::string> apply_toml(std::string_view text, const std::string& origin,
                                      settings& s) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return origin + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
           ": TOML syntax error: " + std::string(e.description());
  }
  problem_sink problems(origin);
  for (auto&& [key, node] : root) {
    auto section = key.str();
    if (!is_section(section))
      problems.add(key.source(), "unknown section '" + std::string(section) + "'");
    else if (auto* table = node.as_table())
      apply_section(section, *table, s, problems);
    else
      problems.add(node.source(), std::string(section) + ": expected a table, got " +
                                      toml_type_name(node.type()));
  }
  return problems.first();
}

// ---------------------------------------------------------------------------
// Rules between keys, checked once every source has been applied.

std::optional<std::string> check_vote_weights(const settings& s) {
  const auto& e = s.evolution;
  double sum = e.completeness_weight + e.efficiency_weight + e.safety_weight;
  if (std::abs(sum - 1) <= 0.001)
    return std::nullopt;
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", sum); // 0.9, not 0.8999999999999999
  return std::string("evolution.completeness_weight + efficiency_weight + safety_weight must sum "
                     "to 1, not ") +
         text;
}

// A model is needed as soon as one step uses it, and every list names one
// entry, or one per base_url.
std::optional<std::string> check_llm(const settings& s) {
  const auto& e = s.evolution;
  bool used = e.engine == "llm" || e.completeness_critic == "llm" ||
              e.efficiency_critic == "llm" || e.safety_critic == "llm";
  auto urls = split_list(s.llm.base_url);
  if (used && urls.empty())
    return std::string("llm.base_url must be set when evolution.engine or a critic is \"llm\"");
  for (auto [key, text] : {std::pair{"llm.model", &s.llm.model},
                           std::pair{"llm.api_key_env", &s.llm.api_key_env}}) {
    auto n = split_list(*text).size();
    if (n > 1 && n != urls.size())
      return std::string(key) + " lists " + std::to_string(n) + " entries for " +
             std::to_string(urls.size()) + " base URL(s); give one, or one per base URL";
  }
  if (used && split_list(s.llm.model).empty())
    return std::string("llm.model must be set when evolution.engine or a critic is \"llm\"");
  return std::nullopt;
}

// The cluster link: TLS needs all three files; a secret is long enough to
// resist guessing; anything but loopback is published only behind TLS.
std::optional<std::string> check_cluster(const settings& s) {
  const auto& c = s.cluster;
  int tls_files = !c.certificate.empty() + !c.key.empty() + !c.ca.empty();
  if (tls_files != 0 && tls_files != 3)
    return std::string("cluster.certificate, cluster.key and cluster.ca go together: set all "
                       "three for mutual TLS, or none");
  if (!c.secret.empty() && !c.secret_file.empty())
    return std::string("cluster.secret and cluster.secret_file: set one, not both");
  if (!c.secret.empty() && c.secret.size() < 16)
    return std::string("cluster.secret must be at least 16 bytes");
  if (!c.listen.empty() && tls_files == 0) {
    // CAF reads a peer's messages before the join is checked, and a single
    // BASP header can make it allocate 2 GiB (docs/cluster.md): off
    // loopback, only TLS keeps unknown peers away from that.
    auto host = c.listen.substr(0, c.listen.rfind(':'));
    if (host != "127.0.0.1" && host != "localhost" && host != "[::1]")
      return "cluster.listen is " + c.listen +
             ", not loopback: set cluster.certificate, cluster.key and cluster.ca (mutual TLS), "
             "so that only your nodes can connect (a shared secret alone is checked too late)";
  }
  return std::nullopt;
}

constexpr std::array cross_key_checks{&check_vote_weights, &check_llm, &check_cluster};

std::optional<std::string> check_cross_keys(const settings& s) {
  for (auto check : cross_key_checks)
    if (auto problem = check(s))
      return problem;
  return std::nullopt;
}

} // namespace

load_result load_text(const std::string& toml_text, const std::string& origin,
                      const std::map<std::string, std::string>& env,
                      const override_list& flags) {
  settings s;
  auto error = apply_toml(toml_text, origin, s);
  if (!error)
    error = apply_env(env, s);
  if (!error)
    error = apply_flags(flags, s);
  if (!error)
    error = check_cross_keys(s);
  if (error)
    return {std::nullopt, load_error{*error}};
  return {std::move(s), std::nullopt};
}

load_result load(const std::string& file, const std::map<std::string, std::string>& env,
                 const override_list& flags) {
  if (file.empty())
    return load_text("", "(no config file)", env, flags);
  auto fail = [&](const std::string& why) {
    return load_result{std::nullopt, load_error{"config file " + file + ": " + why}};
  };
  std::error_code ec;
  auto status = std::filesystem::status(file, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return fail(ec.message());
  if (!std::filesystem::exists(status))
    return fail("does not exist");
  if (std::filesystem::is_directory(status))
    return fail("is a directory");
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return fail("cannot be opened");
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad())
    return fail("cannot be read");
  return load_text(text, file, env, flags);
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    auto eq = text.find('=');
    if (eq == std::string_view::npos)
      continue;
    // Like getenv(), the first of duplicate entries wins.
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos)
      comma = text.size();
    auto first = text.find_first_not_of(" \t", start);
    auto last = text.find_last_not_of(" \t", comma == 0 ? 0 : comma - 1);
    if (first != std::string::npos && first < comma && last != std::string::npos && last >= first)
      out.push_back(text.substr(first, last - first + 1));
    start = comma + 1;
  }
  return out;
}

} // namespace troupe::config
