// Line-level pieces of the ACE format shared by playbook_format.cpp (parse)
// and playbook_markdown.cpp (markdown import); not for use elsewhere.
#pragma once

#include "actors/playbooks/playbook_format.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::playbook::format_internal {

// Splits on "\r\n", "\r" and "\n"; the views never contain '\r' or '\n'.
std::vector<std::string_view> split_lines(std::string_view text);

// The bullet on a line matching the ACE bullet pattern, if it does.
std::optional<bullet> match_bullet(std::string_view text);

// The trimmed name of an ACE heading ("## NAME"), if the line is one.
std::optional<std::string_view> match_ace_heading(std::string_view text);

// A free-text line.
line text_line(std::string_view text);

// A bullet line.
line bullet_line(bullet b);

// Appends a section named name to doc and returns it.
section& open_section(document& doc, std::string name);

} // namespace troupe::playbook::format_internal
