#include "actors/playbooks/playbook_format.hpp"
#include "tests/unit/playbook_dump.hpp"
#include "text/utf8.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>
// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s <regex>
// under -fsanitize=address; the regex is only a reference in one test.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#include <string>
#include <vector>

namespace pb = troupe::playbook;

namespace {

std::string reprint(std::string_view text) { return pb::print(pb::parse(text)); }

pb::bullet make(std::string id, std::int64_t helpful, std::int64_t harmful, std::string content) {
  return pb::bullet{std::move(id), helpful, harmful, std::move(content)};
}

pb::line bullet_line(pb::bullet b) {
  pb::line l;
  l.is_bullet = true;
  l.b = std::move(b);
  return l;
}

pb::line text_line(std::string text) {
  pb::line l;
  l.text = std::move(text);
  return l;
}

// Returns a copy: callers pass temporaries straight from parse().
pb::line only_line(const pb::document& doc) {
  EXPECT_EQ(doc.sections.size(), 1u);
  EXPECT_EQ(doc.sections.at(0).lines.size(), 1u);
  return doc.sections.at(0).lines.at(0);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Found by the markdown fuzz target: an item with more than one space after
// its marker kept the spaces, which a bullet line does not read back.
TEST(PlaybookMarkdown, ItemTextIsTrimmedSoTheBulletRoundTrips) {
  std::int64_t next = 1;
  auto doc = pb::from_markdown("# H\n-   spaced out  \n", next);
  auto all = pb::bullets(doc);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].content, "spaced out");
  auto printed = pb::print(doc);
  EXPECT_EQ(pb::print(pb::parse(printed)), printed);
}

// Found by the markdown fuzz target: "## ##" is an empty markdown heading,
// kept as text it read back as an ACE section named "##".
TEST(PlaybookMarkdown, AnEmptyHeadingIsDropped) {
  std::int64_t next = 1;
  auto doc = pb::from_markdown("intro\n## ## \n- item\n", next);
  auto printed = pb::print(doc);
  EXPECT_EQ(printed.find("##\n"), std::string::npos) << printed;
  EXPECT_EQ(pb::print(pb::parse(printed)), printed);
}

} // namespace

// ------------------------------------------------------------------ parsing

TEST(PlaybookParse, BulletAndSections) {
  auto doc = pb::parse("## STRATEGIES & INSIGHTS\n"
                       "[sai-00001] helpful=3 harmful=0 :: Check the API's pagination first.\n"
                       "## OTHERS\n"
                       "[misc-00002] helpful=0 harmful=7 :: x\n");
  ASSERT_EQ(doc.sections.size(), 2u);
  EXPECT_EQ(doc.sections[0].name, "STRATEGIES & INSIGHTS");
  ASSERT_EQ(doc.sections[0].lines.size(), 1u);
  const auto& l = doc.sections[0].lines[0];
  ASSERT_TRUE(l.is_bullet);
  EXPECT_EQ(l.b.id, "sai-00001");
  EXPECT_EQ(l.b.helpful, 3);
  EXPECT_EQ(l.b.harmful, 0);
  EXPECT_EQ(l.b.content, "Check the API's pagination first.");
  EXPECT_EQ(doc.sections[1].name, "OTHERS");
  EXPECT_EQ(doc.sections[1].lines[0].b.harmful, 7);
}

TEST(PlaybookParse, EmptyTextIsEmptyDocument) {
  auto doc = pb::parse("");
  EXPECT_TRUE(doc.sections.empty());
  EXPECT_EQ(pb::print(doc), "");
}

TEST(PlaybookParse, TrailingNewlineDoesNotAddALine) {
  EXPECT_EQ(dump(pb::parse("a\n")), dump(pb::parse("a")));
  EXPECT_EQ(dump(pb::parse("a")), "S<>\n  T<a>\n");
  EXPECT_EQ(reprint("a"), "a\n");
  EXPECT_EQ(dump(pb::parse("\n")), "S<>\n  T<>\n");
  EXPECT_EQ(dump(pb::parse("a\n\n")), "S<>\n  T<a>\n  T<>\n");
}

TEST(PlaybookParse, TextStartingWithHeadingHasNoPreamble) {
  auto doc = pb::parse("## A\nx\n");
  ASSERT_EQ(doc.sections.size(), 1u);
  EXPECT_EQ(doc.sections[0].name, "A");
}

TEST(PlaybookParse, PreambleHoldsLinesBeforeFirstHeading) {
  auto doc = pb::parse("intro\n[p-1] helpful=0 harmful=0 :: early\n## A\n");
  ASSERT_EQ(doc.sections.size(), 2u);
  EXPECT_EQ(doc.sections[0].name, "");
  ASSERT_EQ(doc.sections[0].lines.size(), 2u);
  EXPECT_FALSE(doc.sections[0].lines[0].is_bullet);
  EXPECT_TRUE(doc.sections[0].lines[1].is_bullet);
  EXPECT_TRUE(doc.sections[1].lines.empty());
}

TEST(PlaybookParse, HeadingRules) {
  // Exactly two '#' and a space; the name is trimmed.
  EXPECT_EQ(dump(pb::parse("##   Spaced Name  \t\n")), "S<Spaced Name>\n");
  EXPECT_EQ(dump(pb::parse("# Title\n")), "S<>\n  T<# Title>\n");
  EXPECT_EQ(dump(pb::parse("### Sub\n")), "S<>\n  T<### Sub>\n");
  EXPECT_EQ(dump(pb::parse("##NoSpace\n")), "S<>\n  T<##NoSpace>\n");
  EXPECT_EQ(dump(pb::parse(" ## Indented\n")), "S<>\n  T< ## Indented>\n");
  // A heading with no name would print as nothing; it stays free text.
  EXPECT_EQ(dump(pb::parse("## \n")), "S<>\n  T<## >\n");
  EXPECT_EQ(dump(pb::parse("##   \n")), "S<>\n  T<##   >\n");
  EXPECT_EQ(dump(pb::parse("## ## x\n")), "S<## x>\n");
}

TEST(PlaybookParse, HeadingNameMatchIsNotRequiredToBeDefault) {
  auto doc = pb::parse("## Database Migrations\n[dm-00001] helpful=1 harmful=1 :: y\n");
  ASSERT_EQ(doc.sections.size(), 1u);
  EXPECT_EQ(doc.sections[0].name, "Database Migrations");
}

TEST(PlaybookParse, BulletWhitespaceVariants) {
  // \s* allows zero or more whitespace at each place.
  const auto l = only_line(pb::parse("[a]helpful=1harmful=2::content"));
  ASSERT_TRUE(l.is_bullet);
  EXPECT_EQ(l.b.id, "a");
  EXPECT_EQ(l.b.helpful, 1);
  EXPECT_EQ(l.b.harmful, 2);
  EXPECT_EQ(l.b.content, "content");

  const auto m = only_line(pb::parse("[a b]\t helpful=01 \t harmful=0\t::\t  spaced  "));
  ASSERT_TRUE(m.is_bullet);
  EXPECT_EQ(m.b.id, "a b");
  EXPECT_EQ(m.b.helpful, 1);
  // Leading whitespace is consumed by \s*; trailing whitespace is content.
  EXPECT_EQ(m.b.content, "spaced  ");
}

TEST(PlaybookParse, EmptyContentBullet) {
  const auto l = only_line(pb::parse("[a] helpful=0 harmful=0 ::"));
  ASSERT_TRUE(l.is_bullet);
  EXPECT_EQ(l.b.content, "");
  EXPECT_EQ(reprint("[a] helpful=0 harmful=0 ::"), "[a] helpful=0 harmful=0 :: \n");
  EXPECT_EQ(reprint("[a] helpful=0 harmful=0 :: \n"), "[a] helpful=0 harmful=0 :: \n");
}

TEST(PlaybookParse, IdIsUpToFirstClosingBracket) {
  const auto l = only_line(pb::parse("[x[y] helpful=1 harmful=0 :: a]b :: c"));
  ASSERT_TRUE(l.is_bullet);
  EXPECT_EQ(l.b.id, "x[y");
  EXPECT_EQ(l.b.content, "a]b :: c");
}

TEST(PlaybookParse, NearMissBulletsAreFreeText) {
  const std::vector<std::string> near_misses = {
      "[id] helpful=x harmful=0 :: a",
      "[id] helpful=1 harmful=0 a",
      "[id] helpful=1 harmful=0 : a",
      "[id] helpful= harmful=0 :: a",
      "[id] helpful=1 harmful=-1 :: a",
      "[id] harmful=0 helpful=1 :: a",
      "[] helpful=1 harmful=0 :: a",
      "[id helpful=1 harmful=0 :: a",
      " [id] helpful=1 harmful=0 :: a",
      "- [id] helpful=1 harmful=0 :: a",
      "[id] Helpful=1 harmful=0 :: a",
      "[id] helpful =1 harmful=0 :: a",
      "[id] helpful=1 harmful=0",
      "[id] helpful=1",
      "[",
      "[id]",
  };
  for (const auto& text : near_misses) {
    SCOPED_TRACE(text);
    const auto l = only_line(pb::parse(text));
    EXPECT_FALSE(l.is_bullet);
    EXPECT_EQ(l.text, text);
    EXPECT_EQ(reprint(text), text + "\n");
  }
}

TEST(PlaybookParse, CountersClamp) {
  const auto l = only_line(pb::parse(
      "[a] helpful=99999999999999999999999999999999999999 harmful=1000000000000001 :: c"));
  ASSERT_TRUE(l.is_bullet);
  EXPECT_EQ(l.b.helpful, 1'000'000'000'000'000);
  EXPECT_EQ(l.b.harmful, 1'000'000'000'000'000);
  EXPECT_EQ(l.b.content, "c");

  const auto exact =
      only_line(pb::parse("[a] helpful=1000000000000000 harmful=999999999999999 :: c"));
  EXPECT_EQ(exact.b.helpful, 1'000'000'000'000'000);
  EXPECT_EQ(exact.b.harmful, 999'999'999'999'999);

  // A very long digit run is clamped without overflow or slowness.
  std::string digits(100'000, '9');
  const auto huge = only_line(pb::parse("[a] helpful=" + digits + " harmful=0 :: c"));
  ASSERT_TRUE(huge.is_bullet);
  EXPECT_EQ(huge.b.helpful, 1'000'000'000'000'000);

  // Leading zeros do not count towards the clamp.
  const auto zeros =
      only_line(pb::parse("[a] helpful=" + std::string(50, '0') + "42 harmful=0 :: c"));
  EXPECT_EQ(zeros.b.helpful, 42);
}

TEST(PlaybookParse, AgreesWithReferenceRegexOnShortLines) {
  // The hand-written matcher must accept exactly what the documented regex
  // accepts. std::regex is fine as a reference on short lines only.
  const std::regex reference(
      R"(^\[([^\]]+)\]\s*helpful=(\d+)\s*harmful=(\d+)\s*::\s*(.*)$)");
  // Lines are a well-formed bullet's parts, each one sometimes replaced by a
  // random piece or dropped, so that matches and near misses are both common.
  const std::vector<std::string> parts = {"[", "id", "]", " ", "helpful=", "12", " ",
                                          "harmful=", "0", " ", "::", " ", "text"};
  const std::vector<std::string> pieces = {"",  "[", "]", " ", "\t", "\v", "\f", ":", "::",
                                           "=", "1", "x", "\xe9", "-", "helpful=", "a b"};
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> mutate(0, 9);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  int matches = 0;
  int misses = 0;
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::string text;
    for (const auto& part : parts)
      text += mutate(rng) == 0 ? pieces[pick(rng)] : part;
    if (text.empty())
      continue; // no line at all
    SCOPED_TRACE(testing::PrintToString(text));
    std::smatch m;
    bool expected = std::regex_match(text, m, reference);
    const auto l = only_line(pb::parse(text));
    ASSERT_EQ(l.is_bullet, expected);
    if (!expected) {
      ++misses;
      EXPECT_EQ(l.text, text);
      continue;
    }
    ++matches;
    EXPECT_EQ(l.b.id, m[1].str());
    EXPECT_EQ(l.b.helpful, std::stoll(m[2].str()));
    EXPECT_EQ(l.b.harmful, std::stoll(m[3].str()));
    EXPECT_EQ(l.b.content, m[4].str());
  }
  EXPECT_GT(matches, 300);
  EXPECT_GT(misses, 300);
}

// ------------------------------------------------------------------ printing

TEST(PlaybookPrint, FormatsSectionsAndBullets) {
  pb::document doc;
  doc.sections.push_back({"", {text_line("preamble")}});
  doc.sections.push_back({"OTHERS",
                          {bullet_line(make("misc-00001", 2, 3, "hello")), text_line("note")}});
  doc.sections.push_back({"EMPTY", {}});
  EXPECT_EQ(pb::print(doc),
            "preamble\n"
            "## OTHERS\n"
            "[misc-00001] helpful=2 harmful=3 :: hello\n"
            "note\n"
            "## EMPTY\n");
}

TEST(PlaybookPrint, EmptyPreamblePrintsNothing) {
  pb::document with;
  with.sections.push_back({"", {}});
  with.sections.push_back({"A", {}});
  pb::document without;
  without.sections.push_back({"A", {}});
  EXPECT_EQ(pb::print(with), pb::print(without));
  EXPECT_EQ(pb::print(with), "## A\n");
  EXPECT_EQ(pb::print(pb::document{}), "");
}

// ------------------------------------------------------------------ round trips

TEST(PlaybookRoundTrip, CanonicalTextIsByteExact) {
  const std::vector<std::string> canonical = {
      "",
      "\n",
      "just a line\n",
      "## STRATEGIES & INSIGHTS\n"
      "[sai-00001] helpful=3 harmful=0 :: Check the API's pagination first.\n"
      "[sai-00002] helpful=0 harmful=0 :: Second.\n",
      // Preamble, free text, blank lines, headings of other levels as text.
      "# Playbook for the billing agent\n"
      "\n"
      "Some introduction.\n"
      "## STRATEGIES & INSIGHTS\n"
      "[sai-00001] helpful=1 harmful=2 :: a\n"
      "free text inside a section\n"
      "### not a heading\n"
      "\n"
      "## FORMULAS & CALCULATIONS\n"
      "[calc-00003] helpful=10 harmful=0 :: total = sum(items) * (1 + tax)\n",
      // Empty sections, including consecutive and trailing ones.
      "## A\n## B\n",
      "## A\n## B\n## C\n[c-00001] helpful=0 harmful=0 :: x\n## D\n",
      // Unicode content, ids and names.
      "## ÉTAPES 🚀\n"
      "[sai-00010] helpful=5 harmful=1 :: Überprüfe die Zeitzone — 東京 ✓\n"
      "texte libre: ça marche\n",
      // Trailing whitespace in content and free text, empty content.
      "## X\n[x-1] helpful=0 harmful=0 :: trailing  \t\n"
      "text with trailing space \n"
      "[x-2] helpful=0 harmful=0 :: \n",
      // Content that itself looks like syntax.
      "## X\n[x-00001] helpful=1 harmful=1 :: [y] helpful=2 harmful=2 :: z\n"
      "[x-00002] helpful=1 harmful=1 :: ## not a heading\n",
      // Counter at the clamp bound.
      "[big] helpful=1000000000000000 harmful=1000000000000000 :: max\n",
  };
  for (const auto& text : canonical) {
    SCOPED_TRACE(text);
    EXPECT_EQ(reprint(text), text);
  }
}

TEST(PlaybookRoundTrip, CrlfParsesLikeLfAndPrintsLf) {
  const std::string lf = "intro\n## A\n[a-00001] helpful=1 harmful=0 :: one\n\ntext\n## B\n";
  const std::string crlf =
      "intro\r\n## A\r\n[a-00001] helpful=1 harmful=0 :: one\r\n\r\ntext\r\n## B\r\n";
  const std::string cr = "intro\r## A\r[a-00001] helpful=1 harmful=0 :: one\r\rtext\r## B\r";
  const std::string mixed = "intro\r\n## A\r[a-00001] helpful=1 harmful=0 :: one\n\r\ntext\r## B";
  EXPECT_EQ(dump(pb::parse(crlf)), dump(pb::parse(lf)));
  EXPECT_EQ(dump(pb::parse(cr)), dump(pb::parse(lf)));
  EXPECT_EQ(dump(pb::parse(mixed)), dump(pb::parse(lf)));
  EXPECT_EQ(reprint(crlf), lf);
  EXPECT_EQ(reprint(cr), lf);
  EXPECT_EQ(reprint(mixed), lf);
  // Content never keeps a '\r'.
  const auto l = only_line(pb::parse("[a] helpful=0 harmful=0 :: x\r\n"));
  EXPECT_EQ(l.b.content, "x");
  // "\n\r" is two line endings, "\r\n" is one.
  EXPECT_EQ(dump(pb::parse("a\n\rb")), "S<>\n  T<a>\n  T<>\n  T<b>\n");
}

TEST(PlaybookRoundTrip, IdempotentOnOddInputs) {
  const std::vector<std::string> odd = {
      "\r",
      "\r\n\r\n",
      "\n\n\n",
      "##",
      "## ",
      "##  \t ",
      "## A",
      "##\tA\n",
      "## A \r\n## A\r\n",
      "[a] helpful=1 harmful=1 ::    lead",
      "[a]helpful=1harmful=1::",
      "[a] helpful=00000 harmful=007 :: z",
      "[a] helpful=1 harmful=1 :: x\r[b] helpful=2 harmful=2 :: y",
      "[ ] helpful=1 harmful=1 :: spaces id",
      "[a] helpful=99999999999999999999 harmful=1 :: clamp",
      std::string("nul\0byte\n", 9),
      std::string("[a\0] helpful=1 harmful=0 :: \0", 29),
      "\xff\xfe\xc0\xaf",
      "## \xed\xa0\x80\n[\x80] helpful=1 harmful=0 :: \xf4\x90\x80\x80",
      "text\n## A\n\n## B\n\n",
      "\v\f## A",
      "[a] helpful=1 harmful=1 :: \v\fx",
  };
  for (const auto& text : odd) {
    SCOPED_TRACE(testing::PrintToString(text));
    std::string once = reprint(text);
    EXPECT_EQ(reprint(once), once);
    EXPECT_EQ(dump(pb::parse(once)), dump(pb::parse(text)));
  }
}

TEST(PlaybookRoundTrip, IdempotentOnRandomBytes) {
  // Bytes biased towards the syntax so that bullets and headings do occur.
  const std::vector<std::string> pieces = {
      "\r", "\n", "\r\n", "[", "]", ":", "::", "=", "#", "## ", " ", "\t",
      "0", "1", "9", "helpful=", "harmful=", "a", "Z", "-", "\xc3\xa9", "\xff",
      "[sai-00001] helpful=1 harmful=2 :: ",
  };
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> length(0, 80);
  std::uniform_int_distribution<int> coin(0, 3);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  int bullets_seen = 0;
  for (int iteration = 0; iteration < 1000; ++iteration) {
    std::string text;
    int n = length(rng);
    for (int k = 0; k < n; ++k) {
      if (coin(rng) == 0)
        text += static_cast<char>(byte(rng));
      else
        text += pieces[pick(rng)];
    }
    SCOPED_TRACE(testing::PrintToString(text));
    auto doc = pb::parse(text);
    bullets_seen += static_cast<int>(pb::bullet_count(doc));
    std::string once = pb::print(doc);
    std::string twice = reprint(once);
    ASSERT_EQ(twice, once);
    ASSERT_EQ(dump(pb::parse(once)), dump(doc));
    // Printed text ends with a newline unless empty, and has no '\r'.
    ASSERT_TRUE(once.empty() || once.back() == '\n');
    ASSERT_EQ(once.find('\r'), std::string::npos);
  }
  // Sanity check on the generator: the run exercised the bullet path.
  EXPECT_GT(bullets_seen, 50);
}

TEST(PlaybookRoundTrip, HugeLineIsFast) {
  std::string content(2 * 1024 * 1024, 'x');
  for (std::size_t i = 50; i < content.size(); i += 97) // no leading space
    content[i] = ' ';
  content.back() = 'y';
  const std::string text = "## A\n[a-00001] helpful=1 harmful=2 :: " + content + "\n";

  auto start = std::chrono::steady_clock::now();
  auto doc = pb::parse(text);
  std::string printed = pb::print(doc);
  double elapsed = seconds_since(start);

  ASSERT_EQ(pb::bullet_count(doc), 1);
  EXPECT_EQ(doc.sections[0].lines[0].b.content.size(), content.size());
  EXPECT_TRUE(printed == text);
  EXPECT_LT(elapsed, 2.0);
}

TEST(PlaybookRoundTrip, HugeNearMissLinesAreFast) {
  // Shapes that make a backtracking regex slow or deep: an unclosed id, a
  // huge id, a huge whitespace run before a missing "::".
  const std::vector<std::string> lines = {
      "[" + std::string(1 << 20, 'a'),
      "[" + std::string(1 << 20, 'a') + "] helpful=1 harmful=1 :: ok",
      "[a] helpful=1 harmful=1" + std::string(1 << 20, ' ') + ":",
      "[a] helpful=1 harmful=1 ::" + std::string(1 << 20, ' '),
      std::string(1 << 20, '['),
  };
  auto start = std::chrono::steady_clock::now();
  for (const auto& text : lines) {
    std::string once = reprint(text);
    EXPECT_EQ(reprint(once), once);
  }
  EXPECT_LT(seconds_since(start), 2.0);
  EXPECT_TRUE(only_line(pb::parse(lines[1])).is_bullet);
  EXPECT_FALSE(only_line(pb::parse(lines[2])).is_bullet);
  EXPECT_EQ(only_line(pb::parse(lines[3])).b.content, "");
}

// ------------------------------------------------------------------ utf-8

TEST(PlaybookUtf8, NonUtf8SurvivesByteExactly) {
  const std::string bad_content = "bad \xff\xfe \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82";
  const std::string text = "## \xc3\x28 section\n"
                           "[\xa0id] helpful=1 harmful=0 :: " + bad_content + "\n"
                           "\x80 free\n";
  auto doc = pb::parse(text);
  ASSERT_EQ(doc.sections.size(), 1u);
  EXPECT_EQ(doc.sections[0].name, "\xc3\x28 section");
  ASSERT_TRUE(doc.sections[0].lines[0].is_bullet);
  EXPECT_EQ(doc.sections[0].lines[0].b.id, "\xa0id");
  EXPECT_EQ(doc.sections[0].lines[0].b.content, bad_content);
  EXPECT_EQ(pb::print(doc), text);
  EXPECT_FALSE(troupe::text::valid_utf8(text));
  EXPECT_FALSE(troupe::text::valid_utf8(bad_content));
}

TEST(PlaybookUtf8, Validation) {
  EXPECT_TRUE(troupe::text::valid_utf8(""));
  EXPECT_TRUE(troupe::text::valid_utf8("plain ascii"));
  EXPECT_TRUE(troupe::text::valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80 東京"));
  EXPECT_TRUE(troupe::text::valid_utf8("\xc2\x80"));              // U+0080, smallest 2-byte
  EXPECT_TRUE(troupe::text::valid_utf8("\xe0\xa0\x80"));          // U+0800, smallest 3-byte
  EXPECT_TRUE(troupe::text::valid_utf8("\xed\x9f\xbf"));          // U+D7FF, just below surrogates
  EXPECT_TRUE(troupe::text::valid_utf8("\xee\x80\x80"));          // U+E000, just above surrogates
  EXPECT_TRUE(troupe::text::valid_utf8("\xf0\x90\x80\x80"));      // U+10000
  EXPECT_TRUE(troupe::text::valid_utf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF
  EXPECT_TRUE(troupe::text::valid_utf8(std::string("a\0b", 3)));  // NUL is valid UTF-8

  EXPECT_FALSE(troupe::text::valid_utf8("\xc0\xaf"));             // overlong '/'
  EXPECT_FALSE(troupe::text::valid_utf8("\xc1\xbf"));             // overlong
  EXPECT_FALSE(troupe::text::valid_utf8("\xe0\x80\xaf"));         // overlong 3-byte
  EXPECT_FALSE(troupe::text::valid_utf8("\xf0\x80\x80\xaf"));     // overlong 4-byte
  EXPECT_FALSE(troupe::text::valid_utf8("\xed\xa0\x80"));         // U+D800 surrogate
  EXPECT_FALSE(troupe::text::valid_utf8("\xed\xbf\xbf"));         // U+DFFF surrogate
  EXPECT_FALSE(troupe::text::valid_utf8("\xf4\x90\x80\x80"));     // U+110000
  EXPECT_FALSE(troupe::text::valid_utf8("\xf5\x80\x80\x80"));     // lead byte beyond range
  EXPECT_FALSE(troupe::text::valid_utf8("\xf8\x88\x80\x80\x80")); // 5-byte form
  EXPECT_FALSE(troupe::text::valid_utf8("\xff"));
  EXPECT_FALSE(troupe::text::valid_utf8("\x80"));                 // stray continuation
  EXPECT_FALSE(troupe::text::valid_utf8("\xc3"));                 // truncated at end
  EXPECT_FALSE(troupe::text::valid_utf8("\xe2\x82"));             // truncated at end
  EXPECT_FALSE(troupe::text::valid_utf8("\xf0\x9f\x9a"));         // truncated at end
  EXPECT_FALSE(troupe::text::valid_utf8("\xe2\x82x"));            // truncated mid-string
  EXPECT_FALSE(troupe::text::valid_utf8("ok \xc3\xa9 then \xc3"));
}

// ------------------------------------------------------------------ ids
