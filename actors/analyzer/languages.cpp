#include "actors/analyzer/languages.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace troupe::analyzer {
namespace {

using block_pair = std::pair<std::string_view, std::string_view>;

struct syntax {
  std::array<std::string_view, 2> line{};  // line-comment markers ("" = none)
  std::array<block_pair, 2> block{};       // block-comment delimiters
  bool strings = false; // "…" and '…' on one line hide comment markers
};

constexpr syntax c_like{{"//", ""}, {block_pair{"/*", "*/"}, block_pair{}}, true};
constexpr syntax hash{{"#", ""}, {}, true};
constexpr syntax hash_no_strings{{"#", ""}, {}, false};
constexpr syntax none{};

struct language {
  std::string_view name;
  syntax s;
};

// cloc's names; the syntax each is counted with.
constexpr std::array languages{
    language{"C", c_like},
    language{"C++", c_like},
    language{"C/C++ Header", c_like},
    language{"C#", c_like},
    language{"Java", c_like},
    language{"Kotlin", c_like},
    language{"Gradle", c_like},
    language{"Scala", c_like},
    language{"Swift", c_like},
    language{"Go", c_like},
    language{"Rust", c_like},
    language{"JavaScript", c_like},
    language{"JSX", c_like},
    language{"TypeScript", c_like},
    language{"Protocol Buffers", c_like},
    language{"PHP", syntax{{"//", "#"}, {block_pair{"/*", "*/"}, block_pair{}}, true}},
    // Triple-quoted strings count as comments, as cloc counts docstrings.
    language{"Python",
             syntax{{"#", ""}, {block_pair{"\"\"\"", "\"\"\""}, block_pair{"'''", "'''"}}, true}},
    language{"Ruby", syntax{{"#", ""}, {block_pair{"=begin", "=end"}, block_pair{}}, true}},
    language{"Perl", hash},
    language{"R", hash},
    language{"Bourne Shell", hash_no_strings},
    language{"Bourne Again Shell", hash_no_strings},
    language{"zsh", hash_no_strings},
    language{"make", hash_no_strings},
    language{"CMake", syntax{{"#", ""}, {block_pair{"#[[", "]]"}, block_pair{}}, false}},
    language{"Dockerfile", hash_no_strings},
    language{"YAML", hash_no_strings},
    language{"TOML", hash_no_strings},
    language{"INI", syntax{{";", "#"}, {}, false}},
    language{"SQL", syntax{{"--", ""}, {block_pair{"/*", "*/"}, block_pair{}}, true}},
    language{"Lua", syntax{{"--", ""}, {block_pair{"--[[", "]]"}, block_pair{}}, true}},
    language{"HTML", syntax{{}, {block_pair{"<!--", "-->"}, block_pair{}}, false}},
    language{"XML", syntax{{}, {block_pair{"<!--", "-->"}, block_pair{}}, false}},
    language{"Markdown", syntax{{}, {block_pair{"<!--", "-->"}, block_pair{}}, false}},
    language{"CSS", syntax{{}, {block_pair{"/*", "*/"}, block_pair{}}, false}},
    language{"SCSS", c_like},
    language{"JSON", none},
    language{"reStructuredText", none},
    language{"Text", none},
};

const syntax* syntax_of(std::string_view name) {
  for (const auto& l : languages)
    if (l.name == name)
      return &l.s;
  return nullptr;
}

constexpr std::pair<std::string_view, std::string_view> extensions[] = {
    {"c", "C"},           {"cc", "C++"},          {"cpp", "C++"},
    {"cxx", "C++"},       {"c++", "C++"},         {"h", "C/C++ Header"},
    {"hh", "C/C++ Header"}, {"hpp", "C/C++ Header"}, {"hxx", "C/C++ Header"},
    {"cs", "C#"},         {"java", "Java"},       {"kt", "Kotlin"},
    {"kts", "Kotlin"},    {"scala", "Scala"},     {"swift", "Swift"},
    {"go", "Go"},         {"rs", "Rust"},         {"js", "JavaScript"},
    {"mjs", "JavaScript"}, {"cjs", "JavaScript"}, {"jsx", "JSX"},
    {"ts", "TypeScript"}, {"tsx", "TypeScript"},  {"mts", "TypeScript"},
    {"cts", "TypeScript"}, {"proto", "Protocol Buffers"}, {"php", "PHP"},
    {"py", "Python"},     {"pyi", "Python"},      {"rb", "Ruby"},
    {"pl", "Perl"},       {"pm", "Perl"},         {"r", "R"},
    {"sh", "Bourne Shell"}, {"bash", "Bourne Again Shell"}, {"zsh", "zsh"},
    {"mk", "make"},       {"cmake", "CMake"},     {"yaml", "YAML"},
    {"yml", "YAML"},      {"toml", "TOML"},       {"ini", "INI"},
    {"cfg", "INI"},       {"sql", "SQL"},         {"lua", "Lua"},
    {"html", "HTML"},     {"htm", "HTML"},        {"xml", "XML"},
    {"md", "Markdown"},   {"markdown", "Markdown"}, {"css", "CSS"},
    {"scss", "SCSS"},     {"json", "JSON"},       {"rst", "reStructuredText"},
    {"txt", "Text"},      {"gradle", "Gradle"},   {"dockerfile", "Dockerfile"},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

bool starts_at(std::string_view line, std::size_t i, std::string_view marker) {
  return !marker.empty() && line.substr(i, marker.size()) == marker;
}

// A quoted string starting at `i` and ending on this line (escapes skipped):
// the index just past it, or npos when it does not end here (then the quote
// is just a character: a Rust lifetime, an apostrophe in a shell word).
std::size_t string_end(std::string_view line, std::size_t i) {
  char q = line[i];
  for (std::size_t j = i + 1; j < line.size(); ++j) {
    if (line[j] == '\\')
      ++j;
    else if (line[j] == q)
      return j + 1;
  }
  return std::string_view::npos;
}

} // namespace

std::optional<std::string_view> language_of_name(std::string_view file_name) {
  auto name = lower(file_name);
  if (name == "makefile" || name == "gnumakefile")
    return "make";
  if (name == "cmakelists.txt")
    return "CMake";
  if (name == "dockerfile" || name.rfind("dockerfile.", 0) == 0)
    return "Dockerfile";
  if (name == "cargo.lock" || name == "go.sum")
    return std::nullopt;
  if (name == ".clang-format" || name == ".clang-tidy")
    return "YAML";
  auto dot = name.find('.', name[0] == '.' ? 1 : 0);
  while (dot != std::string::npos) {
    auto ext = std::string_view{name}.substr(dot + 1);
    for (const auto& [e, lang] : extensions)
      if (e == ext)
        return lang;
    dot = name.find('.', dot + 1);
  }
  return std::nullopt;
}

std::optional<std::string_view> language_of_shebang(std::string_view first_line) {
  if (first_line.substr(0, 2) != "#!")
    return std::nullopt;
  // The interpreter: the command's last path element, or env's argument.
  std::string_view rest = first_line.substr(2);
  auto word = [&]() -> std::string_view {
    std::size_t b = 0;
    while (b < rest.size() && is_space(rest[b]))
      ++b;
    std::size_t e = b;
    while (e < rest.size() && !is_space(rest[e]))
      ++e;
    auto w = rest.substr(b, e - b);
    rest = rest.substr(e);
    return w;
  };
  auto command = word();
  auto base = command.substr(command.rfind('/') == std::string_view::npos ? 0
                                                                          : command.rfind('/') + 1);
  if (base == "env") {
    base = word();
    while (base.substr(0, 1) == "-") // env -S, -i …
      base = word();
  }
  if (base.rfind("python", 0) == 0)
    return "Python";
  if (base == "bash")
    return "Bourne Again Shell";
  if (base == "sh" || base == "dash" || base == "ash" || base == "ksh")
    return "Bourne Shell";
  if (base == "zsh")
    return "zsh";
  if (base == "node" || base == "nodejs")
    return "JavaScript";
  if (base.rfind("perl", 0) == 0)
    return "Perl";
  if (base.rfind("ruby", 0) == 0)
    return "Ruby";
  return std::nullopt;
}

line_counts count_lines(std::string_view language, std::string_view text) {
  const syntax* s = syntax_of(language);
  if (!s)
    s = &none;
  line_counts out;
  std::string_view block_end; // non-empty while inside a block comment
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    auto line = text.substr(start, nl == std::string_view::npos ? text.size() - start : nl - start);
    bool first = start == 0;
    start = nl == std::string_view::npos ? text.size() : nl + 1;
    if (first && line.substr(0, 2) == "#!") { // an interpreter line is code, as cloc counts it
      ++out.code;
      continue;
    }

    bool blank = std::all_of(line.begin(), line.end(), is_space);
    bool code = false, comment = false;
    std::size_t i = 0;
    while (i < line.size()) {
      if (!block_end.empty()) {
        comment = true;
        auto end = line.find(block_end, i);
        if (end == std::string_view::npos)
          break;
        i = end + block_end.size();
        block_end = {};
        continue;
      }
      if (is_space(line[i])) {
        ++i;
        continue;
      }
      bool matched = false;
      for (const auto& [open, close] : s->block)
        if (starts_at(line, i, open)) {
          block_end = close;
          comment = true;
          i += open.size();
          matched = true;
          break;
        }
      if (matched)
        continue;
      if (std::any_of(s->line.begin(), s->line.end(),
                      [&](std::string_view m) { return starts_at(line, i, m); })) {
        comment = true;
        break;
      }
      code = true;
      if (s->strings && (line[i] == '"' || line[i] == '\'')) {
        auto end = string_end(line, i);
        i = end == std::string_view::npos ? i + 1 : end;
      } else {
        ++i;
      }
    }
    if (blank)
      ++out.blank;
    else if (code)
      ++out.code;
    else if (comment)
      ++out.comment;
    else
      ++out.code;
  }
  return out;
}

bool looks_binary(std::string_view head) {
  return head.substr(0, 8192).find('\0') != std::string_view::npos;
}

} // namespace troupe::analyzer
