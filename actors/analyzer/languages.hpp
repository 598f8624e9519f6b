// Languages of a repository's files and their line counts (code, comment,
// blank), counted the way cloc counts them so the two can be compared (B9):
// a blank line holds only whitespace; a comment line holds only comments (or
// is inside a block comment); every other line is code, a line with code
// and a trailing comment included. Language names are cloc's.
//
// Pure: no I/O beyond what the caller hands in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace troupe::analyzer {

struct line_counts {
  std::int64_t code = 0;
  std::int64_t comment = 0;
  std::int64_t blank = 0;

  line_counts& operator+=(const line_counts& o) {
    code += o.code;
    comment += o.comment;
    blank += o.blank;
    return *this;
  }
};

// The language of a file from its name (extension or well-known name such as
// `Makefile`), or nullopt when the name says nothing.
std::optional<std::string_view> language_of_name(std::string_view file_name);

// The language an interpreter line names ("#!/usr/bin/env python3" →
// Python), or nullopt.
std::optional<std::string_view> language_of_shebang(std::string_view first_line);

// The lines of `text` in `language` (one of the names the two functions
// above return).
line_counts count_lines(std::string_view language, std::string_view text);

// True for content that is not text: a NUL byte in its first 8 KiB.
bool looks_binary(std::string_view head);

} // namespace troupe::analyzer
