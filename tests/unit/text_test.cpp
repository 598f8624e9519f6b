// The shared text primitives: byte-exact, locale-independent, UTF-8 intact.
#include "text/ascii.hpp"
#include "text/utf8.hpp"

#include <gtest/gtest.h>

using namespace troupe::text;

namespace {

using strings = std::vector<std::string>;

TEST(Text, CaseIsAsciiOnlyAndLeavesUtf8Alone) {
  EXPECT_EQ(lower("MiXeD 42 \xc3\x89t\xc3\xa9"), "mixed 42 \xc3\x89t\xc3\xa9");
  EXPECT_EQ(upper("abc-\xc3\xa9"), "ABC-\xc3\xa9");
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_FALSE(iequals("abc", "abcd"));
  EXPECT_FALSE(iequals("\xc3\x89", "\xc3\xa9")) << "no Unicode case folding";
  EXPECT_TRUE(istarts_with("NEVER do this", "never"));
  EXPECT_FALSE(istarts_with("ne", "never"));
}

TEST(Text, TrimmingAndWhitespaceRunsUseTheCLocaleSpaces) {
  EXPECT_EQ(trim(" \t\r\n\v\fx y \n"), "x y");
  EXPECT_EQ(trim_left("  a "), "a ");
  EXPECT_EQ(trim_right("  a "), "  a");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("\xc2\xa0x"), "\xc2\xa0x") << "U+00A0 is not ASCII space";
  EXPECT_EQ(split_whitespace("  a\tbb\n\nccc "), (std::vector<std::string_view>{"a", "bb", "ccc"}));
  EXPECT_EQ(collapse_whitespace("\n  one\t two\r\nthree  "), "one two three");
  EXPECT_EQ(collapse_whitespace(" \t "), "");
}

TEST(Text, WordsAreLowerCasedRunsOfWordBytes) {
  EXPECT_EQ(words("Check the API's pagination, twice!", word_bytes::ascii),
            (strings{"check", "the", "api", "s", "pagination", "twice"}));
  EXPECT_EQ(words("東京 to Café", word_bytes::utf8), (strings{"東京", "to", "café"}));
  EXPECT_EQ(words("東京 to Café", word_bytes::ascii), (strings{"to", "caf"}));
  EXPECT_TRUE(words("", word_bytes::utf8).empty());
  EXPECT_TRUE(words("--- !!", word_bytes::ascii).empty());
}

TEST(Text, Utf8ValidityAndCharacterCounts) {
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9"));
  EXPECT_FALSE(valid_utf8("\xc3"));
  EXPECT_EQ(code_points("caf\xc3\xa9"), 4u);
  EXPECT_TRUE(has_control_characters("a\x01"));
  EXPECT_TRUE(has_control_characters("a\x7f"));
  EXPECT_FALSE(has_control_characters("caf\xc3\xa9 ok"));
}

} // namespace
