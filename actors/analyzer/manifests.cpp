#include "actors/analyzer/manifests.hpp"

#include "actors/analyzer/lines.hpp"
#include "text/ascii.hpp"

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <cctype>
#include <set>

namespace troupe::analyzer {
namespace {

using json = nlohmann::json;

using text::is_space;
using text::trim;

// Each line, trimmed.
template <class F>
void for_each_trimmed_line(std::string_view text, F f) {
  for_each_line(text, [&](std::string_view line) { f(trim(line)); });
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size())
    return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i])
      return false;
  return true;
}

// find_package(Name [version] …), case-insensitive, comments skipped.
void cmake(std::string_view text, manifest_info& m) {
  std::size_t at = 0;
  while (at < text.size()) {
    auto nl = text.find('\n', at);
    auto line = trim(text.substr(at, nl == std::string_view::npos ? text.size() - at : nl - at));
    at = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.empty() || line[0] == '#' || !iequals_prefix(line, "find_package"))
      continue;
    auto open = line.find('(');
    if (open == std::string_view::npos)
      continue;
    auto args = trim(line.substr(open + 1));
    std::size_t i = 0;
    while (i < args.size() && !is_space(args[i]) && args[i] != ')')
      ++i;
    auto name = args.substr(0, i);
    auto rest = trim(args.substr(i));
    std::size_t j = 0;
    while (j < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[j])) || rest[j] == '.'))
      ++j;
    if (!name.empty())
      m.dependencies.emplace_back(std::string{name}, std::string{rest.substr(0, j)});
  }
}

void npm(std::string_view text, manifest_info& m) {
  auto doc = json::parse(text, nullptr, false);
  if (!doc.is_object())
    return;
  if (doc.contains("name") && doc["name"].is_string())
    m.package_name = doc["name"].get<std::string>();
  for (const char* section : {"dependencies", "devDependencies", "peerDependencies",
                              "optionalDependencies"})
    if (doc.contains(section) && doc[section].is_object())
      for (const auto& [name, version] : doc[section].items())
        m.dependencies.emplace_back(name, version.is_string() ? version.get<std::string>() : "");
  if (doc.contains("main") && doc["main"].is_string())
    m.entry_points.emplace_back("package-main", doc["main"].get<std::string>());
  if (doc.contains("bin")) {
    if (doc["bin"].is_string())
      m.entry_points.emplace_back("package-bin", doc["bin"].get<std::string>());
    else if (doc["bin"].is_object())
      for (const auto& [name, path] : doc["bin"].items())
        if (path.is_string())
          m.entry_points.emplace_back("package-bin", path.get<std::string>());
  }
}

std::string toml_version(const toml::node& n) {
  if (auto s = n.value<std::string>())
    return *s;
  if (const auto* t = n.as_table())
    if (auto v = (*t)["version"].value<std::string>())
      return *v;
  return "";
}

void cargo(std::string_view text, manifest_info& m) {
  toml::table doc;
  try {
    doc = toml::parse(text);
  } catch (const std::exception&) {
    return;
  }
  if (auto name = doc["package"]["name"].value<std::string>())
    m.package_name = *name;
  for (const char* section : {"dependencies", "dev-dependencies", "build-dependencies"})
    if (const auto* deps = doc[section].as_table())
      for (const auto& [name, spec] : *deps)
        m.dependencies.emplace_back(std::string{name.str()}, toml_version(spec));
}

void go_mod(std::string_view text, manifest_info& m) {
  bool block = false;
  for_each_trimmed_line(text, [&](std::string_view line) {
    if (line.empty() || line.substr(0, 2) == "//")
      return;
    if (block) {
      if (line[0] == ')') {
        block = false;
        return;
      }
    } else if (line.substr(0, 7) == "module ") {
      m.go_module = std::string{trim(line.substr(7))};
      return;
    } else if (line.substr(0, 8) == "require ") {
      line = trim(line.substr(8));
      if (line == "(") {
        block = true;
        return;
      }
    } else {
      return;
    }
    auto space = line.find(' ');
    auto name = line.substr(0, space);
    auto version = space == std::string_view::npos ? std::string_view{} : trim(line.substr(space));
    auto comment = version.find("//");
    if (comment != std::string_view::npos)
      version = trim(version.substr(0, comment));
    m.dependencies.emplace_back(std::string{name}, std::string{version});
  });
}

// A PEP 508 requirement: the name, then its version specifier.
std::pair<std::string, std::string> requirement(std::string_view r) {
  r = trim(r);
  std::size_t i = 0;
  while (i < r.size() && (std::isalnum(static_cast<unsigned char>(r[i])) || r[i] == '-' ||
                          r[i] == '_' || r[i] == '.'))
    ++i;
  auto rest = trim(r.substr(i));
  if (!rest.empty() && rest[0] == '[') { // extras
    auto close = rest.find(']');
    rest = close == std::string_view::npos ? std::string_view{} : trim(rest.substr(close + 1));
  }
  auto marker = rest.find(';');
  if (marker != std::string_view::npos)
    rest = trim(rest.substr(0, marker));
  return {std::string{r.substr(0, i)}, std::string{rest}};
}

void pyproject(std::string_view text, manifest_info& m) {
  toml::table doc;
  try {
    doc = toml::parse(text);
  } catch (const std::exception&) {
    return;
  }
  if (auto name = doc["project"]["name"].value<std::string>())
    m.package_name = *name;
  if (const auto* deps = doc["project"]["dependencies"].as_array())
    for (const auto& d : *deps)
      if (auto s = d.value<std::string>())
        if (auto [name, version] = requirement(*s); !name.empty())
          m.dependencies.emplace_back(name, version);
  if (const auto* deps = doc["tool"]["poetry"]["dependencies"].as_table())
    for (const auto& [name, spec] : *deps)
      if (name.str() != "python")
        m.dependencies.emplace_back(std::string{name.str()}, toml_version(spec));
}

void requirements(std::string_view text, manifest_info& m) {
  for_each_trimmed_line(text, [&](std::string_view line) {
    auto hash = line.find('#');
    if (hash != std::string_view::npos)
      line = trim(line.substr(0, hash));
    if (line.empty() || line[0] == '-')
      return; // -r other.txt, -e ., --index-url …
    if (auto [name, version] = requirement(line); !name.empty())
      m.dependencies.emplace_back(name, version);
  });
}

// The text between <tag> and </tag> after `from`, within `limit`.
std::string_view element(std::string_view text, std::string_view tag) {
  auto open = std::string{"<"} + std::string{tag} + ">";
  auto at = text.find(open);
  if (at == std::string_view::npos)
    return {};
  at += open.size();
  auto close = text.find("</", at);
  return close == std::string_view::npos ? std::string_view{} : trim(text.substr(at, close - at));
}

void pom(std::string_view text, manifest_info& m) {
  std::size_t at = 0;
  while ((at = text.find("<dependency>", at)) != std::string_view::npos) {
    auto end = text.find("</dependency>", at);
    if (end == std::string_view::npos)
      break;
    auto block = text.substr(at, end - at);
    auto group = element(block, "groupId");
    auto artifact = element(block, "artifactId");
    if (!artifact.empty())
      m.dependencies.emplace_back(std::string{group} + (group.empty() ? "" : ":") +
                                      std::string{artifact},
                                  std::string{element(block, "version")});
    at = end;
  }
}

void gradle(std::string_view text, manifest_info& m) {
  static const std::set<std::string_view> configurations = {
      "implementation", "api", "compile", "compileOnly", "runtimeOnly", "testImplementation",
      "testRuntimeOnly", "annotationProcessor", "kapt"};
  for_each_trimmed_line(text, [&](std::string_view line) {
    std::size_t i = 0;
    while (i < line.size() && std::isalpha(static_cast<unsigned char>(line[i])))
      ++i;
    if (!configurations.count(line.substr(0, i)))
      return;
    auto q = line.find_first_of("'\"", i);
    if (q == std::string_view::npos)
      return;
    auto end = line.find(line[q], q + 1);
    if (end == std::string_view::npos)
      return;
    auto coordinate = line.substr(q + 1, end - q - 1); // group:artifact:version
    auto last = coordinate.rfind(':');
    auto first = coordinate.find(':');
    if (first == std::string_view::npos)
      return;
    if (last == first)
      m.dependencies.emplace_back(std::string{coordinate}, "");
    else
      m.dependencies.emplace_back(std::string{coordinate.substr(0, last)},
                                  std::string{coordinate.substr(last + 1)});
  });
}

} // namespace

std::optional<manifest_info> read_manifest(std::string_view name, const std::string& dir,
                                           std::string_view text) {
  manifest_info m;
  m.kind = std::string{name};
  m.dir = dir;
  if (name == "CMakeLists.txt") {
    m.ecosystem = "cmake";
    cmake(text, m);
  } else if (name == "package.json") {
    m.ecosystem = "npm";
    npm(text, m);
  } else if (name == "Cargo.toml") {
    m.ecosystem = "cargo";
    cargo(text, m);
  } else if (name == "go.mod") {
    m.ecosystem = "go";
    go_mod(text, m);
  } else if (name == "pyproject.toml") {
    m.ecosystem = "python";
    pyproject(text, m);
  } else if (name == "requirements.txt") {
    m.ecosystem = "python";
    requirements(text, m);
  } else if (name == "setup.py") {
    m.ecosystem = "python";
  } else if (name == "pom.xml") {
    m.ecosystem = "maven";
    pom(text, m);
  } else if (name == "build.gradle" || name == "build.gradle.kts") {
    m.ecosystem = "gradle";
    gradle(text, m);
  } else {
    return std::nullopt;
  }
  return m;
}

} // namespace troupe::analyzer
