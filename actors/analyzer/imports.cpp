#include "actors/analyzer/imports.hpp"

#include "actors/analyzer/lines.hpp"
#include "text/ascii.hpp"

#include <cctype>

namespace troupe::analyzer {
namespace {

using kind = import_ref::kind;

using text::is_space;
using text::trim;

bool is_ident(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

// `s` starts with `word` followed by a space or the end.
bool starts_with_word(std::string_view s, std::string_view word) {
  return s.substr(0, word.size()) == word && (s.size() == word.size() || !is_ident(s[word.size()]));
}

// The dotted name at the start of `s` (a.b.c, or a.b.* when `star`).
std::string_view dotted(std::string_view s, bool star = false) {
  std::size_t i = 0;
  while (i < s.size() && (is_ident(s[i]) || s[i] == '.' || (star && s[i] == '*')))
    ++i;
  return s.substr(0, i);
}

// The contents of the quoted string starting at `s[0]` ('…', "…" or `…`).
std::string_view quoted(std::string_view s) {
  if (s.empty() || (s[0] != '"' && s[0] != '\'' && s[0] != '`'))
    return {};
  auto end = s.find(s[0], 1);
  return end == std::string_view::npos ? std::string_view{} : s.substr(1, end - 1);
}

void c_includes(std::string_view text, std::vector<import_ref>& out) {
  for_each_line(text, [&](std::string_view line) {
    auto l = trim(line);
    if (l.empty() || l[0] != '#')
      return;
    l = trim(l.substr(1));
    if (!starts_with_word(l, "include"))
      return;
    l = trim(l.substr(7));
    if (l.empty())
      return;
    char close = l[0] == '"' ? '"' : l[0] == '<' ? '>' : 0;
    if (!close)
      return;
    auto end = l.find(close, 1);
    if (end == std::string_view::npos || end == 1)
      return;
    out.push_back({close == '"' ? kind::include_quoted : kind::include_angled,
                   std::string{l.substr(1, end - 1)}});
  });
}

void python_imports(std::string_view text, std::vector<import_ref>& out) {
  for_each_line(text, [&](std::string_view line) {
    auto l = trim(line);
    if (starts_with_word(l, "import")) {
      // import a.b, c.d as e
      l = l.substr(6);
      while (true) {
        l = trim(l);
        auto name = dotted(l);
        if (name.empty())
          break;
        out.push_back({kind::python, std::string{name}});
        auto comma = l.find(',');
        if (comma == std::string_view::npos)
          break;
        l = l.substr(comma + 1);
      }
    } else if (starts_with_word(l, "from")) {
      // from .a.b import c, d   |   from . import x
      l = trim(l.substr(4));
      int level = 0;
      while (!l.empty() && l[0] == '.') {
        ++level;
        l.remove_prefix(1);
      }
      auto name = dotted(l);
      auto rest = trim(l.substr(name.size()));
      if (!starts_with_word(rest, "import"))
        return;
      if (level == 0) {
        if (!name.empty())
          out.push_back({kind::python, std::string{name}});
        return;
      }
      // Relative: each imported name may be a module of the package.
      auto names = trim(rest.substr(6));
      if (!names.empty() && names[0] == '(')
        names.remove_prefix(1);
      out.push_back({kind::python_relative, std::string{name}, level});
      while (!names.empty()) {
        names = trim(names);
        auto n = dotted(names);
        if (n.empty())
          break;
        out.push_back({kind::python_relative,
                       name.empty() ? std::string{n} : std::string{name} + "." + std::string{n},
                       level});
        auto comma = names.find(',');
        if (comma == std::string_view::npos)
          break;
        names = names.substr(comma + 1);
      }
    }
  });
}

void js_imports(std::string_view text, std::vector<import_ref>& out) {
  // `from '…'`, `import '…'`, `require('…')`, `import('…')` anywhere.
  auto take = [&](std::size_t at) {
    while (at < text.size() && is_space(text[at]))
      ++at;
    auto spec = quoted(text.substr(at));
    if (!spec.empty() && spec.find('\n') == std::string_view::npos)
      out.push_back({kind::js, std::string{spec}});
  };
  for (std::string_view word : {"from", "import", "require(", "import("}) {
    std::size_t at = 0;
    while ((at = text.find(word, at)) != std::string_view::npos) {
      bool boundary = at == 0 || !is_ident(text[at - 1]);
      at += word.size();
      if (!boundary || (word.back() != '(' && at < text.size() && is_ident(text[at])))
        continue;
      take(at);
    }
  }
}

void go_imports(std::string_view text, std::vector<import_ref>& out) {
  bool block = false;
  for_each_line(text, [&](std::string_view line) {
    auto l = trim(line);
    if (block) {
      if (!l.empty() && l[0] == ')') {
        block = false;
        return;
      }
      auto q = l.find('"');
      if (q != std::string_view::npos)
        if (auto spec = quoted(l.substr(q)); !spec.empty())
          out.push_back({kind::go, std::string{spec}});
      return;
    }
    if (!starts_with_word(l, "import"))
      return;
    l = trim(l.substr(6));
    if (!l.empty() && l[0] == '(') {
      block = true;
      return;
    }
    auto q = l.find('"');
    if (q != std::string_view::npos)
      if (auto spec = quoted(l.substr(q)); !spec.empty())
        out.push_back({kind::go, std::string{spec}});
  });
}

void rust_uses(std::string_view text, std::vector<import_ref>& out) {
  for_each_line(text, [&](std::string_view line) {
    auto l = trim(line);
    if (starts_with_word(l, "pub"))
      l = trim(l.substr(3));
    if (starts_with_word(l, "extern")) {
      l = trim(l.substr(6));
      if (!starts_with_word(l, "crate"))
        return;
      l = trim(l.substr(5));
    } else if (starts_with_word(l, "use")) {
      l = trim(l.substr(3));
      if (!l.empty() && l[0] == ':') {
        auto name = l.find_first_not_of(':');
        if (name == std::string_view::npos)
          return; // `use ::` and nothing after it
        l = trim(l.substr(name));
      }
    } else {
      return;
    }
    std::size_t i = 0;
    while (i < l.size() && is_ident(l[i]))
      ++i;
    auto crate = l.substr(0, i);
    if (crate.empty() || crate == "crate" || crate == "self" || crate == "super" ||
        crate == "std" || crate == "core" || crate == "alloc")
      return;
    out.push_back({kind::rust_crate, std::string{crate}});
  });
}

void java_imports(std::string_view text, std::vector<import_ref>& out) {
  for_each_line(text, [&](std::string_view line) {
    auto l = trim(line);
    if (!starts_with_word(l, "import"))
      return;
    l = trim(l.substr(6));
    if (starts_with_word(l, "static"))
      l = trim(l.substr(6));
    auto name = dotted(l, true);
    if (name.find('.') != std::string_view::npos)
      out.push_back({kind::java, std::string{name}});
  });
}

bool c_family(std::string_view language) {
  return language == "C" || language == "C++" || language == "C/C++ Header";
}

bool js_family(std::string_view language) {
  return language == "JavaScript" || language == "JSX" || language == "TypeScript";
}

bool jvm_family(std::string_view language) {
  return language == "Java" || language == "Kotlin" || language == "Scala";
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A line of `text` that starts, after whitespace, with `prefix`.
bool has_line_starting(std::string_view text, std::string_view prefix) {
  bool found = false;
  for_each_line(text, [&](std::string_view line) {
    if (!found && trim(line).substr(0, prefix.size()) == prefix)
      found = true;
  });
  return found;
}

} // namespace

std::vector<import_ref> imports_of(std::string_view language, std::string_view text) {
  std::vector<import_ref> out;
  if (c_family(language))
    c_includes(text, out);
  else if (language == "Python")
    python_imports(text, out);
  else if (js_family(language))
    js_imports(text, out);
  else if (language == "Go")
    go_imports(text, out);
  else if (language == "Rust")
    rust_uses(text, out);
  else if (jvm_family(language))
    java_imports(text, out);
  return out;
}

std::string entry_point_kind(std::string_view language, std::string_view path,
                             std::string_view text) {
  if (language == "C" || language == "C++") {
    if (has_line_starting(text, "int main(") || has_line_starting(text, "int main (") ||
        has_line_starting(text, "auto main("))
      return "main";
  } else if (language == "Go") {
    if (has_line_starting(text, "package main") && has_line_starting(text, "func main("))
      return "main";
  } else if (language == "Rust") {
    bool binary_path = ends_with(path, "src/main.rs") || path.find("src/bin/") != std::string_view::npos;
    if (binary_path && has_line_starting(text, "fn main("))
      return "main";
  } else if (jvm_family(language)) {
    if (text.find("static void main(") != std::string_view::npos ||
        has_line_starting(text, "fun main("))
      return "main";
  } else if (language == "Python") {
    if (text.find("__name__ == \"__main__\"") != std::string_view::npos ||
        text.find("__name__ == '__main__'") != std::string_view::npos)
      return "python-main";
  }
  return "";
}

} // namespace troupe::analyzer
