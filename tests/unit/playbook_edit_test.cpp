// The playbook format's ids, sizes, diff and markdown import
// (actors/playbooks/playbook_ids.cpp, playbook_diff.cpp, playbook_markdown.cpp).
// Parsing and printing are in playbook_format_test.cpp.
#include "actors/playbooks/playbook_format.hpp"
#include "tests/unit/playbook_dump.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pb = troupe::playbook;

TEST(PlaybookIds, DuplicateIdsReportedOnceInOrderOfFirstRepetition) {
  auto doc = pb::parse("## A\n"
                       "[a-1] helpful=0 harmful=0 :: x\n"
                       "[b-2] helpful=0 harmful=0 :: x\n"
                       "[c-3] helpful=0 harmful=0 :: x\n"
                       "## B\n"
                       "[b-2] helpful=1 harmful=0 :: y\n"
                       "[a-1] helpful=0 harmful=0 :: x\n"
                       "[b-2] helpful=0 harmful=0 :: z\n");
  EXPECT_EQ(pb::duplicate_ids(doc), (std::vector<std::string>{"b-2", "a-1"}));
  EXPECT_TRUE(pb::duplicate_ids(pb::parse("[a] helpful=0 harmful=0 :: x\n")).empty());
  EXPECT_TRUE(pb::duplicate_ids(pb::document{}).empty());
}

TEST(PlaybookIds, SectionSlug) {
  EXPECT_EQ(pb::section_slug("STRATEGIES & INSIGHTS"), "sai");
  EXPECT_EQ(pb::section_slug("FORMULAS & CALCULATIONS"), "calc");
  EXPECT_EQ(pb::section_slug("CODE SNIPPETS & TEMPLATES"), "code");
  EXPECT_EQ(pb::section_slug("COMMON MISTAKES TO AVOID"), "err");
  EXPECT_EQ(pb::section_slug("PROBLEM-SOLVING HEURISTICS"), "prob");
  EXPECT_EQ(pb::section_slug("CONTEXT CLUES & INDICATORS"), "ctx");
  EXPECT_EQ(pb::section_slug("OTHERS"), "misc");
  // Defaults match case-insensitively after trimming.
  EXPECT_EQ(pb::section_slug("  strategies & insights \t"), "sai");
  EXPECT_EQ(pb::section_slug("Problem-Solving Heuristics"), "prob");
  EXPECT_EQ(pb::section_slug("others"), "misc");
  // Others: lower-case initials of alphanumeric words.
  EXPECT_EQ(pb::section_slug("Database Migrations"), "dm");
  EXPECT_EQ(pb::section_slug("API tips"), "at");
  EXPECT_EQ(pb::section_slug("HTTP/2 & gRPC-web quirks"), "h2gwq");
  EXPECT_EQ(pb::section_slug("3rd party"), "3p");
  EXPECT_EQ(pb::section_slug("ÉTAPES clés"), "tcs"); // non-ASCII bytes split words
  EXPECT_EQ(pb::section_slug(""), "x");
  EXPECT_EQ(pb::section_slug("&&& --- !!!"), "x");
  EXPECT_EQ(pb::section_slug("\xc3\xa9\xc3\xa9"), "x");
  EXPECT_EQ(pb::section_slug("STRATEGIES AND INSIGHTS"), "sai");
  EXPECT_EQ(pb::section_slug("OTHERS TOO"), "ot");
}

TEST(PlaybookIds, MakeBulletId) {
  EXPECT_EQ(pb::make_bullet_id("sai", 12), "sai-00012");
  EXPECT_EQ(pb::make_bullet_id("sai", 0), "sai-00000");
  EXPECT_EQ(pb::make_bullet_id("calc", 99999), "calc-99999");
  EXPECT_EQ(pb::make_bullet_id("calc", 100000), "calc-100000");
  EXPECT_EQ(pb::make_bullet_id("x", 1234567890123), "x-1234567890123");
  EXPECT_EQ(pb::make_bullet_id("x", INT64_MAX), "x-9223372036854775807");
}

TEST(PlaybookIds, IdNumber) {
  EXPECT_EQ(pb::id_number("sai-00012"), 12);
  EXPECT_EQ(pb::id_number("sai-0"), 0);
  EXPECT_EQ(pb::id_number("a-b-7"), 7);
  EXPECT_EQ(pb::id_number("x-9223372036854775807"), INT64_MAX);
  EXPECT_EQ(pb::id_number("-5"), 5);
  EXPECT_EQ(pb::id_number("x-9223372036854775808"), std::nullopt); // overflows
  EXPECT_EQ(pb::id_number("x-" + std::string(40, '1')), std::nullopt);
  EXPECT_EQ(pb::id_number("sai-"), std::nullopt);
  EXPECT_EQ(pb::id_number("sai-12a"), std::nullopt);
  EXPECT_EQ(pb::id_number("sai-1 "), std::nullopt);
  EXPECT_EQ(pb::id_number("sai-+1"), std::nullopt);
  EXPECT_EQ(pb::id_number("12-b"), std::nullopt);
  EXPECT_EQ(pb::id_number("12"), std::nullopt);
  EXPECT_EQ(pb::id_number(""), std::nullopt);
  for (std::int64_t n : {0, 1, 12345, 100000, 987654321})
    EXPECT_EQ(pb::id_number(pb::make_bullet_id("s", n)), n);
}

TEST(PlaybookIds, NextIdAfter) {
  EXPECT_EQ(pb::next_id_after(pb::document{}), 1);
  EXPECT_EQ(pb::next_id_after(pb::parse("free text\n## A\n")), 1);
  EXPECT_EQ(pb::next_id_after(pb::parse("[custom] helpful=0 harmful=0 :: no number\n")), 1);
  EXPECT_EQ(pb::next_id_after(pb::parse("[a-00000] helpful=0 harmful=0 :: zero\n")), 1);
  EXPECT_EQ(pb::next_id_after(pb::parse("## A\n"
                                        "[sai-00007] helpful=0 harmful=0 :: a\n"
                                        "## B\n"
                                        "[calc-00042] helpful=0 harmful=0 :: b\n"
                                        "[code-00003] helpful=0 harmful=0 :: c\n"
                                        "[odd] helpful=0 harmful=0 :: d\n")),
            43);
  // Free text that merely looks like an id does not count.
  EXPECT_EQ(pb::next_id_after(pb::parse("sai-00099\n[a-2] helpful=0 harmful=0 :: x\n")), 3);
  // No overflow at the top of the range.
  EXPECT_EQ(pb::next_id_after(pb::parse("[x-9223372036854775807] helpful=0 harmful=0 :: x\n")),
            INT64_MAX);
}

// ------------------------------------------------------------------ sizes

TEST(PlaybookSize, BulletCountAndBullets) {
  auto doc = pb::parse("[p-1] helpful=0 harmful=0 :: pre\n"
                       "text\n"
                       "## A\n"
                       "[a-2] helpful=1 harmful=0 :: one\n"
                       "## B\n"
                       "## C\n"
                       "not a bullet\n"
                       "[c-3] helpful=0 harmful=2 :: two\n");
  EXPECT_EQ(pb::bullet_count(doc), 3);
  auto list = pb::bullets(doc);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].id, "p-1");
  EXPECT_EQ(list[1].id, "a-2");
  EXPECT_EQ(list[2].id, "c-3");
  EXPECT_EQ(list[2].harmful, 2);
  EXPECT_EQ(pb::bullet_count(pb::document{}), 0);
  EXPECT_TRUE(pb::bullets(pb::document{}).empty());
}

TEST(PlaybookSize, TokenEstimateIsCeilingOfBytesOverFour) {
  EXPECT_EQ(pb::token_estimate(pb::document{}), 0);
  EXPECT_EQ(pb::token_estimate(pb::parse("abc")), 1);   // "abc\n" = 4 bytes
  EXPECT_EQ(pb::token_estimate(pb::parse("abcd")), 2);  // 5 bytes
  EXPECT_EQ(pb::token_estimate(pb::parse("abcdefg")), 2); // 8 bytes
  EXPECT_EQ(pb::token_estimate(pb::parse("\xc3\xa9")), 1); // 3 bytes, counted as bytes
  auto doc = pb::parse("## A\n[a-00001] helpful=1 harmful=0 :: hello\n");
  auto bytes = static_cast<std::int64_t>(pb::print(doc).size());
  EXPECT_EQ(pb::token_estimate(doc), (bytes + 3) / 4);
  // Estimated on the canonical text, not on the input.
  EXPECT_EQ(pb::token_estimate(pb::parse("abc\r\n")), 1);
}

// ------------------------------------------------------------------ diff

TEST(PlaybookDiff, AddedRemovedChanged) {
  auto from = pb::parse("## A\n"
                        "[a-1] helpful=1 harmful=0 :: same\n"
                        "[a-2] helpful=1 harmful=0 :: old text\n"
                        "[a-3] helpful=1 harmful=0 :: counters\n"
                        "[a-4] helpful=0 harmful=0 :: gone\n"
                        "[a-5] helpful=0 harmful=0 :: also gone\n");
  auto to = pb::parse("## B\n"
                      "[a-6] helpful=0 harmful=0 :: new first\n"
                      "[a-3] helpful=1 harmful=4 :: counters\n"
                      "## A\n"
                      "[a-1] helpful=1 harmful=0 :: same\n"
                      "free text changes are not bullet changes\n"
                      "[a-2] helpful=1 harmful=0 :: new text\n"
                      "[a-7] helpful=0 harmful=0 :: new second\n");
  auto d = pb::diff(from, to);

  ASSERT_EQ(d.added.size(), 2u);
  EXPECT_EQ(d.added[0].id, "a-6");
  EXPECT_EQ(d.added[1].id, "a-7");
  EXPECT_EQ(d.added[1].content, "new second");

  ASSERT_EQ(d.removed.size(), 2u);
  EXPECT_EQ(d.removed[0].id, "a-4");
  EXPECT_EQ(d.removed[1].id, "a-5");

  ASSERT_EQ(d.changed.size(), 2u); // in `to` order
  EXPECT_EQ(d.changed[0].id, "a-3");
  EXPECT_EQ(d.changed[0].from.harmful, 0);
  EXPECT_EQ(d.changed[0].to.harmful, 4);
  EXPECT_EQ(d.changed[1].id, "a-2");
  EXPECT_EQ(d.changed[1].from.content, "old text");
  EXPECT_EQ(d.changed[1].to.content, "new text");
}

TEST(PlaybookDiff, EachFieldCountsAsAChange) {
  auto base = pb::parse("[x] helpful=1 harmful=1 :: c\n");
  EXPECT_EQ(pb::diff(base, pb::parse("[x] helpful=2 harmful=1 :: c\n")).changed.size(), 1u);
  EXPECT_EQ(pb::diff(base, pb::parse("[x] helpful=1 harmful=2 :: c\n")).changed.size(), 1u);
  EXPECT_EQ(pb::diff(base, pb::parse("[x] helpful=1 harmful=1 :: d\n")).changed.size(), 1u);
  EXPECT_EQ(pb::diff(base, pb::parse("[x] helpful=1 harmful=1 :: c \n")).changed.size(), 1u);
  // Moving a bullet to another section, or reformatting whitespace that the
  // parser normalises, is not a change.
  auto same = pb::diff(base, pb::parse("## S\n[x]helpful=01 harmful=1::c\n"));
  EXPECT_TRUE(same.added.empty());
  EXPECT_TRUE(same.removed.empty());
  EXPECT_TRUE(same.changed.empty());
}

TEST(PlaybookDiff, IdenticalAndEmptyDocuments) {
  auto doc = pb::parse("[a] helpful=1 harmful=0 :: x\n[b] helpful=0 harmful=0 :: y\n");
  auto none = pb::diff(doc, doc);
  EXPECT_TRUE(none.added.empty() && none.removed.empty() && none.changed.empty());

  auto grow = pb::diff(pb::document{}, doc);
  ASSERT_EQ(grow.added.size(), 2u);
  EXPECT_TRUE(grow.removed.empty());

  auto shrink = pb::diff(doc, pb::document{});
  ASSERT_EQ(shrink.removed.size(), 2u);
  EXPECT_TRUE(shrink.added.empty());
}

TEST(PlaybookDiff, FirstOccurrenceOfDuplicateIdWins) {
  auto from = pb::parse("[d] helpful=0 harmful=0 :: first\n"
                        "[d] helpful=0 harmful=0 :: second\n");
  auto to = pb::parse("[d] helpful=0 harmful=0 :: first\n"
                      "[d] helpful=9 harmful=9 :: different second\n"
                      "[n] helpful=0 harmful=0 :: new\n"
                      "[n] helpful=0 harmful=0 :: new again\n");
  auto d = pb::diff(from, to);
  EXPECT_TRUE(d.changed.empty());
  EXPECT_TRUE(d.removed.empty());
  ASSERT_EQ(d.added.size(), 1u); // a duplicated new id is added once
  EXPECT_EQ(d.added[0].content, "new");

  auto reverse = pb::diff(to, from);
  ASSERT_EQ(reverse.removed.size(), 1u);
  EXPECT_EQ(reverse.removed[0].id, "n");

  auto changed = pb::diff(from, pb::parse("[d] helpful=0 harmful=0 :: second\n"
                                          "[d] helpful=0 harmful=0 :: first\n"));
  ASSERT_EQ(changed.changed.size(), 1u);
  EXPECT_EQ(changed.changed[0].from.content, "first");
  EXPECT_EQ(changed.changed[0].to.content, "second");
}

// ------------------------------------------------------------------ markdown

TEST(PlaybookMarkdown, Detection) {
  EXPECT_TRUE(pb::is_plain_markdown("- item"));
  EXPECT_TRUE(pb::is_plain_markdown("* item"));
  EXPECT_TRUE(pb::is_plain_markdown("+ item"));
  EXPECT_TRUE(pb::is_plain_markdown("# Notes\n\nSome text.\n   - nested item\n"));
  EXPECT_TRUE(pb::is_plain_markdown("text\r\n- item\r\n"));
  EXPECT_FALSE(pb::is_plain_markdown(""));
  EXPECT_FALSE(pb::is_plain_markdown("# Title\nparagraph only\n"));
  EXPECT_FALSE(pb::is_plain_markdown("-item\n*emphasis*\n**bold**\n1. numbered\n"));
  EXPECT_FALSE(pb::is_plain_markdown("## STRATEGIES & INSIGHTS\n"));
  // Any ACE bullet line makes it ACE, even with list items around.
  EXPECT_FALSE(pb::is_plain_markdown("- item\n[sai-00001] helpful=0 harmful=0 :: x\n"));
  EXPECT_FALSE(pb::is_plain_markdown("[a]helpful=0harmful=0::x\n- item\n"));
  // A near-miss bullet line does not count as ACE.
  EXPECT_TRUE(pb::is_plain_markdown("[a] helpful=x harmful=0 :: x\n- item\n"));
}

TEST(PlaybookMarkdown, ConvertsHeadingsItemsAndText) {
  std::int64_t next_id = 7;
  auto doc = pb::from_markdown("# Database Migrations\n"
                               "\n"
                               "Run them in order.\n"
                               "- Always back up first\n"
                               "  - nested detail\n"
                               "\t* tab indented star\n"
                               "+ plus item\n"
                               "## api tips\n"
                               "- [ ] task box stays text\n"
                               "-   extra spaces trimmed\n"
                               "### Others\n"
                               "- misc item\n",
                               next_id);
  EXPECT_EQ(next_id, 14);
  EXPECT_EQ(dump(doc),
            "S<DATABASE MIGRATIONS>\n"
            "  T<Run them in order.>\n"
            "  B<dm-00007|0|0|Always back up first>\n"
            "  B<dm-00008|0|0|nested detail>\n"
            "  B<dm-00009|0|0|tab indented star>\n"
            "  B<dm-00010|0|0|plus item>\n"
            "S<API TIPS>\n"
            "  B<at-00011|0|0|[ ] task box stays text>\n"
            "  B<at-00012|0|0|extra spaces trimmed>\n"
            "S<OTHERS>\n"
            "  B<misc-00013|0|0|misc item>\n");
}

TEST(PlaybookMarkdown, ItemsBeforeHeadingGoToStrategies) {
  std::int64_t next_id = 1;
  auto doc = pb::from_markdown("Intro line\n- first\nafter first\n# Later\n- second\n", next_id);
  EXPECT_EQ(next_id, 3);
  EXPECT_EQ(dump(doc),
            "S<>\n"
            "  T<Intro line>\n"
            "S<STRATEGIES & INSIGHTS>\n"
            "  B<sai-00001|0|0|first>\n"
            "  T<after first>\n"
            "S<LATER>\n"
            "  B<l-00002|0|0|second>\n");
}

TEST(PlaybookMarkdown, HeadingForms) {
  std::int64_t next_id = 1;
  auto doc = pb::from_markdown("# One\n"
                               "## Two ##\n"
                               "###   Three   \n"
                               "#### Four is text\n"
                               "#NoSpace is text\n"
                               "## C#\n"
                               "  # indented heading\n"
                               "# \n"
                               "## ##\n"
                               "# strategies & insights\n"
                               "- s\n",
                               next_id);
  EXPECT_EQ(dump(doc),
            "S<ONE>\n"
            "S<TWO>\n"
            "S<THREE>\n"
            "  T<#### Four is text>\n"
            "  T<#NoSpace is text>\n"
            "S<C#>\n"
            "S<INDENTED HEADING>\n"
            "  T<# >\n" // ("## ##" is dropped: as text it would read back as a section)
            "S<STRATEGIES & INSIGHTS>\n"
            "  B<sai-00001|0|0|s>\n");
  EXPECT_EQ(next_id, 2);
}

TEST(PlaybookMarkdown, BlankLinesDroppedAndCrlfHandled) {
  std::int64_t next_id = 100000;
  auto doc = pb::from_markdown("\r\n# Tips\r\n\r\n   \r\n- a\r\n\t\r\n- b\r\n", next_id);
  EXPECT_EQ(next_id, 100002);
  EXPECT_EQ(dump(doc),
            "S<TIPS>\n"
            "  B<t-100000|0|0|a>\n"
            "  B<t-100001|0|0|b>\n");
}

TEST(PlaybookMarkdown, ConvertedDocumentPrintsStableAce) {
  std::int64_t next_id = 1;
  auto doc = pb::from_markdown("# Ops\nSome note\n- restart the pod\n- check logs\n", next_id);
  std::string ace = pb::print(doc);
  EXPECT_EQ(ace,
            "## OPS\n"
            "Some note\n"
            "[o-00001] helpful=0 harmful=0 :: restart the pod\n"
            "[o-00002] helpful=0 harmful=0 :: check logs\n");
  EXPECT_EQ(dump(pb::parse(ace)), dump(doc));
  EXPECT_FALSE(pb::is_plain_markdown(ace));
  EXPECT_EQ(pb::next_id_after(doc), next_id);
}

TEST(PlaybookMarkdown, EmptyInput) {
  std::int64_t next_id = 5;
  EXPECT_TRUE(pb::from_markdown("", next_id).sections.empty());
  EXPECT_TRUE(pb::from_markdown("\n \n\t\n", next_id).sections.empty());
  EXPECT_EQ(next_id, 5);
}

TEST(PlaybookMarkdown, ParseAnyChooses) {
  const std::string ace = "## STRATEGIES & INSIGHTS\n"
                          "[sai-00001] helpful=1 harmful=0 :: existing\n"
                          "- a dash line inside ACE stays text\n";
  std::int64_t next_id = 50;
  auto parsed = pb::parse_any(ace, next_id);
  EXPECT_EQ(next_id, 50); // ACE input assigns no ids
  EXPECT_EQ(dump(parsed), dump(pb::parse(ace)));
  EXPECT_EQ(pb::print(parsed), ace);

  const std::string md = "# Tips\n- one\n- two\n";
  auto converted = pb::parse_any(md, next_id);
  EXPECT_EQ(next_id, 52);
  EXPECT_EQ(dump(converted),
            "S<TIPS>\n"
            "  B<t-00050|0|0|one>\n"
            "  B<t-00051|0|0|two>\n");

  // Neither bullets nor list items: parsed as ACE free text.
  const std::string prose = "# Title\nJust prose.\n";
  auto plain = pb::parse_any(prose, next_id);
  EXPECT_EQ(next_id, 52);
  EXPECT_EQ(dump(plain), dump(pb::parse(prose)));
  EXPECT_EQ(pb::print(plain), prose);
}

// Found by fuzz_markdown: a line in the ACE bullet form inside markdown,
// kept as text, read back as a bullet (and printed differently). It is a
// bullet of the import: its counters and content, a new id.
TEST(PlaybookMarkdown, AnAceBulletLineIsABulletWithANewId) {
  std::int64_t next_id = 1;
  auto doc = pb::from_markdown("# H\n[s00001] helpful=1 harmful=0 ::mful= looks l\n- next\n", next_id);
  EXPECT_EQ(next_id, 3);
  EXPECT_EQ(dump(doc),
            "S<H>\n"
            "  B<h-00001|1|0|mful= looks l>\n"
            "  B<h-00002|0|0|next>\n");
  auto printed = pb::print(doc);
  EXPECT_EQ(pb::print(pb::parse(printed)), printed);
}
