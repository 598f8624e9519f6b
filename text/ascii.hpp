// Text primitives on bytes: ASCII classes and case, trimming, whitespace
// runs, words. Locale-independent and byte-exact (results depend on the
// bytes only, never on the process's locale), and UTF-8 bytes pass through
// untouched. One of each: the playbook format, similarity, curation, the
// critics, plan critique and the gateway all use these.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace troupe::text {

// \s of the "C" locale: space, \t, \n, \v, \f, \r.
constexpr bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
// A byte of a word as similarity counts words: ASCII letters and digits, and
// every byte >= 0x80, so that UTF-8 words stay whole.
constexpr bool is_word_byte(char c) {
  return is_alnum(c) || static_cast<unsigned char>(c) >= 0x80;
}

constexpr char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr char to_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

std::string lower(std::string_view s);
std::string upper(std::string_view s);

// Equal ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);

std::string_view trim_left(std::string_view s);
std::string_view trim_right(std::string_view s);
std::string_view trim(std::string_view s);

// The value of a hexadecimal digit, or -1.
int hex_value(char c);

// %XX escapes decoded (and '+' as a space when `plus_is_space`, as in a
// query string); false for a broken escape.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space);

// The runs of non-space bytes, in order.
std::vector<std::string_view> split_whitespace(std::string_view s);

// Trimmed, every whitespace run (line breaks included) one space.
std::string collapse_whitespace(std::string_view s);

// Which bytes make a word for words(): ASCII letters and digits only, or
// also every byte >= 0x80 (is_word_byte).
enum class word_bytes { ascii, utf8 };

// The lower-cased words of `s`: maximal runs of word bytes; everything else
// separates.
std::vector<std::string> words(std::string_view s, word_bytes kind);

} // namespace troupe::text
