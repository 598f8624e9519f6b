// One detector of unsafe content, shared by the evolution safety critic
// (bullet content) and the plan safety critic (the text of a step it would
// add), and the phrase matching both critics' safety rules use. Pure logic.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace troupe::evolution {

// A phrase of a safety rule. It matches in normalized() text where it starts
// a word (not after a letter, digit or '_') and, unless it is a stem, ends
// one (not before a letter, digit, '_' or '-'): "drop" matches "drop the
// table" and "pre-drop", not "dropped"; the stem "backup" matches "backups".
struct phrase {
  std::string_view text;
  bool stem = false;
};

// Lower-cased, each whitespace run one space, trimmed.
std::string normalized(std::string_view s);

struct phrase_match {
  std::size_t at = 0; // position in the normalized text
  std::string_view text;
};

// The earliest match of any phrase of `list` in `normalized_text`.
std::optional<phrase_match> first_phrase(std::string_view normalized_text,
                                         std::span<const phrase> list);

// The destructive action (rm -rf, drop table, force push, wipe, …) and the
// safeguard (backup, snapshot, dry run, confirm, verif…, rollback, staging)
// found in normalized text.
std::optional<std::string_view> destructive_action(std::string_view normalized_text);
std::optional<std::string_view> safeguard_of(std::string_view normalized_text);

// Content that must not reach an agent's prompt, with the reason: an
// attempt to override the agent's instructions or hijack its role, a
// secret (API keys, tokens, private keys, password assignments), or a
// destructive action recommended without a safeguard. nullopt when none.
std::optional<std::string> unsafe_content(std::string_view content);

} // namespace troupe::evolution
