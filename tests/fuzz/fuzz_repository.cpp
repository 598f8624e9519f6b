// libFuzzer target: what the repository analyzer reads from outside — a
// project's repository_url and ref (docs/analyzer.md), and every text the
// analysis parses: source lines, imports, build manifests. The first byte
// picks the surface; the rest is its input.
//   0      repository_url, a newline, a ref: read or refused with a 400,
//          never an exception of another kind; what is read has a host
//          and no credentials in its URL
//   1..   source text in language (byte - 1) % the number of languages:
//          the line counts add up to the lines of the text
//   high   a manifest (byte picks the file name) in the root directory
#include "actors/analyzer/imports.hpp"
#include "actors/analyzer/languages.hpp"
#include "actors/analyzer/manifests.hpp"
#include "actors/analyzer/source.hpp"
#include "messages/api_error.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>

using namespace troupe;
using namespace troupe::analyzer;

namespace {

constexpr std::array<const char*, 12> languages = {
    "C++", "C", "Python", "JavaScript", "TypeScript", "Go",
    "Rust", "Java", "Bourne Shell", "CMake", "Markdown", "SQL"};
constexpr std::array<const char*, 10> manifests = {
    "CMakeLists.txt", "package.json", "Cargo.toml", "go.mod", "pyproject.toml",
    "requirements.txt", "setup.py", "pom.xml", "build.gradle", "build.gradle.kts"};

std::int64_t lines_of(const std::string& text) {
  if (text.empty())
    return 0;
  auto n = static_cast<std::int64_t>(std::count(text.begin(), text.end(), '\n'));
  return text.back() == '\n' ? n : n + 1;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  unsigned pick = data[0];
  std::string input{reinterpret_cast<const char*>(data + 1), size - 1};
  if (pick == 0) {
    auto nl = input.find('\n');
    auto url = input.substr(0, nl);
    auto ref = nl == std::string::npos ? std::string{} : input.substr(nl + 1);
    try {
      auto source = read_repository_url(url, {"/nonexistent-troupe-fuzz-root"});
      if (!source.local) { // no credentials left in the shown URL's authority
        auto start = source.url.find("://") + 3;
        auto authority = source.url.substr(start, source.url.find_first_of("/?", start) - start);
        if (authority.find('@') != std::string::npos || authority.empty())
          std::abort();
      }
    } catch (const api_error& e) {
      if (e.status != 400)
        std::abort();
    }
    try {
      check_ref(ref);
    } catch (const api_error& e) {
      if (e.status != 400)
        std::abort();
    }
    return 0;
  }
  if (pick < 200) {
    const char* language = languages[(pick - 1) % languages.size()];
    auto counts = count_lines(language, input);
    if (counts.code + counts.comment + counts.blank != lines_of(input))
      std::abort();
    (void)imports_of(language, input);
    (void)entry_point_kind(language, "src/main.rs", input);
    (void)language_of_shebang(input.substr(0, input.find('\n')));
    (void)language_of_name(input.substr(0, 64));
    return 0;
  }
  (void)read_manifest(manifests[pick % manifests.size()], "", input);
  return 0;
}
