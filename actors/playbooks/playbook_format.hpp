// The ACE playbook format: parsing, printing, markdown conversion, bullet ids,
// size estimates and version diffs. Pure logic: no actor, no database.
//
//   ## STRATEGIES & INSIGHTS
//   [sai-00001] helpful=3 harmful=0 :: Check the API's pagination first.
//
// A section starts with "## NAME". A bullet is a line matching
//   ^\[([^\]]+)\]\s*helpful=(\d+)\s*harmful=(\d+)\s*::\s*(.*)$
// Any other line is free text kept in place inside its section (lines before
// the first heading belong to a preamble with an empty name).
//
// Invariants:
//  - print(parse(x)) == x for canonical text (LF line endings, bullets written
//    as "[id] helpful=H harmful=X :: content", file ending in "\n" or empty).
//  - print(parse(print(parse(x)))) == print(parse(x)) for any input.
//  - CRLF and lone CR line endings are read as LF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::playbook {

struct bullet {
  std::string id;       // e.g. "sai-00001"
  std::int64_t helpful = 0;
  std::int64_t harmful = 0;
  std::string content;
};

// One line of a section: either a bullet or free text.
struct line {
  bool is_bullet = false;
  bullet b;           // when is_bullet
  std::string text;   // when !is_bullet (without line ending)
};

struct section {
  std::string name;   // "" for the preamble before the first heading
  std::vector<line> lines;
};

struct document {
  std::vector<section> sections;
};

// Parses ACE text. Never fails: every byte sequence is a document. Counters
// larger than 10^15 are clamped to 10^15 (the text stays otherwise intact).
document parse(std::string_view text);

// Prints the canonical text of a document.
std::string print(const document& doc);

// True when `text` looks like plain markdown rather than ACE: it has no ACE
// bullet line and at least one "- " / "* " / "+ " list item.
bool is_plain_markdown(std::string_view text);

// Converts plain markdown (headings "#", "##", "###" name sections; list items
// "- ", "* ", "+ " become bullets with zero counters; other non-blank lines
// are kept as free text) into an ACE document. Items before any heading go to
// "STRATEGIES & INSIGHTS". Headings are upper-cased. Ids are assigned from
// `next_id` (incremented per bullet) with the section's slug.
document from_markdown(std::string_view text, std::int64_t& next_id);

// Parses `text` as ACE, or converts it when is_plain_markdown(text).
document parse_any(std::string_view text, std::int64_t& next_id);

// The slug of a section name: the default sections map to sai, calc, code,
// err, prob, ctx, misc; others to the lower-case initials of their words
// (letters and digits only; "x" when there are none).
std::string section_slug(std::string_view section_name);

// Formats an id: slug + "-" + number zero-padded to 5 digits ("sai-00012").
std::string make_bullet_id(std::string_view slug, std::int64_t number);

// The numeric suffix of an id ("sai-00012" → 12), if it has one.
std::optional<std::int64_t> id_number(std::string_view id);

// The smallest counter value that never collides with an id in the document:
// the largest numeric suffix present plus one (1 for none).
std::int64_t next_id_after(const document& doc);

// Ids that occur on more than one bullet, in order of first repetition.
std::vector<std::string> duplicate_ids(const document& doc);

std::int64_t bullet_count(const document& doc);

// Deterministic token estimate: ceil(UTF-8 byte length of print(doc) / 4).
std::int64_t token_estimate(const document& doc);

// All bullets in document order.
std::vector<bullet> bullets(const document& doc);

struct bullet_change {
  std::string id;
  bullet from;
  bullet to;
};

struct diff_result {
  std::vector<bullet> added;     // ids only in `to`, in `to` order
  std::vector<bullet> removed;   // ids only in `from`, in `from` order
  std::vector<bullet_change> changed; // same id, different content or counters, in `to` order
};

diff_result diff(const document& from, const document& to);

} // namespace troupe::playbook
