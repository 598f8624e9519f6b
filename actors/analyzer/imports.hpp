// What a source file imports, read line by line without a parser: enough
// to tell which other files of the repository (or which workspace package)
// it depends on. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace troupe::analyzer {

struct import_ref {
  enum class kind {
    include_quoted, // C/C++ #include "x"
    include_angled, // C/C++ #include <x>
    python,         // a.b.c (absolute)
    python_relative,// ..a.b: `level` dots, then the name (possibly empty)
    js,             // './x', '../y', 'pkg', '@scope/pkg/sub'
    go,             // an import path
    rust_crate,     // a crate name used by `use` or `extern crate`
    java,           // com.x.y.Z, or com.x.y.* (wildcard)
  };
  kind k;
  std::string spec;
  int level = 0; // python_relative only
};

// The imports of `text` written in `language` (a languages.hpp name).
std::vector<import_ref> imports_of(std::string_view language, std::string_view text);

// Whether the file declares a program's entry point, and which kind
// ("main", "python-main"), or "" when it does not.
std::string entry_point_kind(std::string_view language, std::string_view path,
                             std::string_view text);

} // namespace troupe::analyzer
