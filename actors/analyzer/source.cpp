#include "actors/analyzer/source.hpp"

#include "messages/api_error.hpp"
#include "text/ascii.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>

namespace troupe::analyzer {
namespace {

constexpr std::size_t max_url_bytes = 2048;
constexpr std::string_view field = "repository_url";

[[noreturn]] void refuse(const std::string& why) { throw invalid_argument(std::string{field}, why); }

const std::string schemes_allowed =
    "repository_url must be an https://, http://, git:// or file:// URL, or an absolute local "
    "path under repository_analyzer.allowed_local_roots";

std::string decode_credential(std::string_view s) {
  std::string out;
  if (!text::percent_decode(s, out, false))
    refuse("repository_url has a broken %-escape in its credentials");
  if (out.find('\0') != std::string::npos)
    refuse("repository_url's credentials hold a NUL byte");
  return out;
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool hex_digit(char c) { return text::hex_value(c) >= 0; }

// HOST[:PORT]: a name, an IPv4 address or [IPv6], and a port 1..65535.
bool valid_authority(std::string_view a) {
  std::string_view port;
  if (!a.empty() && a[0] == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos || close < 2)
      return false;
    for (char c : a.substr(1, close - 1))
      if (!hex_digit(c) && c != ':' && c != '.')
        return false;
    auto rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':')
        return false;
      port = rest.substr(1);
      if (port.empty())
        return false;
    }
  } else {
    auto colon = a.find(':');
    auto host = a.substr(0, colon);
    if (host.empty() || !std::all_of(host.begin(), host.end(), name_char))
      return false;
    if (colon != std::string_view::npos) {
      port = a.substr(colon + 1);
      if (port.empty())
        return false;
    }
  }
  if (port.empty())
    return true;
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  auto n = std::stoi(std::string{port});
  return n >= 1 && n <= 65535;
}

// The canonical form of `path`: every `..` and symlink resolved. nullopt
// when it does not exist.
std::optional<std::string> resolve(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> real{::realpath(path.c_str(), nullptr), &std::free};
  if (!real)
    return std::nullopt;
  return std::string{real.get()};
}

bool inside(const std::string& path, const std::string& root) {
  if (root == "/")
    return true;
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

repository_source local(const std::string& path, const std::vector<std::string>& roots) {
  if (roots.empty())
    refuse("local repositories are not allowed here: "
           "repository_analyzer.allowed_local_roots is empty");
  auto allowed = allowed_local_path(path, roots);
  if (!allowed) {
    if (!resolve(path))
      refuse("the local path does not exist");
    refuse("the local path is outside repository_analyzer.allowed_local_roots (after "
           "resolving .. and symlinks)");
  }
  return {*allowed, "", "", true};
}

} // namespace

std::optional<std::string> allowed_local_path(const std::string& path,
                                              const std::vector<std::string>& allowed_roots) {
  auto real = resolve(path);
  if (!real)
    return std::nullopt;
  for (const auto& root : allowed_roots)
    if (auto r = resolve(root); r && inside(*real, *r))
      return real;
  return std::nullopt;
}

repository_source read_repository_url(std::string_view url,
                                      const std::vector<std::string>& allowed_roots) {
  if (url.empty())
    refuse("repository_url must not be empty");
  if (url.size() > max_url_bytes)
    refuse("repository_url is longer than 2048 bytes");
  for (char c : url)
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f)
      refuse("repository_url must not contain spaces or control characters");

  if (url[0] == '/')
    return local(std::string{url}, allowed_roots);
  if (url.rfind("file://", 0) == 0) {
    auto rest = url.substr(7);
    if (rest.rfind("localhost/", 0) == 0)
      rest.remove_prefix(9);
    if (rest.empty() || rest[0] != '/')
      refuse("a file:// URL must name an absolute path (file:///path)");
    if (rest.find('%') != std::string_view::npos || rest.find('?') != std::string_view::npos ||
        rest.find('#') != std::string_view::npos)
      refuse("a file:// URL must be a plain path, without escapes, query or fragment");
    return local(std::string{rest}, allowed_roots);
  }

  std::string_view scheme;
  for (std::string_view s : {"https://", "http://", "git://"})
    if (url.rfind(s, 0) == 0)
      scheme = s;
  if (scheme.empty())
    refuse(schemes_allowed);
  auto rest = url.substr(scheme.size());
  if (rest.find('#') != std::string_view::npos)
    refuse("repository_url must not have a fragment");
  auto end = rest.find_first_of("/?");
  auto authority = rest.substr(0, end);
  auto tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);

  repository_source out;
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    if (scheme == "git://")
      refuse("git:// carries no credentials: use https:// with credentials instead");
    auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    out.username = decode_credential(userinfo.substr(0, colon));
    if (colon != std::string_view::npos)
      out.password = decode_credential(userinfo.substr(colon + 1));
    if (out.username.empty())
      refuse("repository_url has credentials without a user name");
  }
  if (authority.empty())
    refuse("repository_url has no host");
  if (!valid_authority(authority))
    refuse("repository_url's host must be a name, an IPv4 address or [IPv6], with an optional "
           "port 1..65535");
  out.url = std::string{scheme} + std::string{authority} + std::string{tail};
  return out;
}

void check_ref(std::string_view ref) {
  auto bad = [] {
    throw invalid_argument("ref", "ref must be a branch, tag or commit: 1 to 255 characters of "
                                  "letters, digits, '.', '_', '-' and '/', without '..', not "
                                  "starting with '-' or '/'");
  };
  if (ref.empty() || ref.size() > 255 || ref[0] == '-' || ref[0] == '/' || ref.back() == '/' ||
      ref.find("..") != std::string_view::npos || ref.find("//") != std::string_view::npos)
    bad();
  for (char c : ref)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-' || c == '/'))
      bad();
}

std::vector<std::string> split_roots(std::string_view setting) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= setting.size()) {
    auto comma = setting.find(',', start);
    auto part = setting.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                      : comma - start);
    while (!part.empty() && part.front() == ' ')
      part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ')
      part.remove_suffix(1);
    if (!part.empty())
      out.emplace_back(part);
    if (comma == std::string_view::npos)
      break;
    start = comma + 1;
  }
  return out;
}

} // namespace troupe::analyzer
