#include "actors/evolution/curation.hpp"
#include "actors/evolution/similarity.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ev = troupe::evolution;
namespace pb = troupe::playbook;

namespace {

constexpr const char* strategies = "STRATEGIES & INSIGHTS";
constexpr const char* mistakes = "COMMON MISTAKES TO AVOID";

// 11 words; the refinement below adds one word, the truncation drops one:
// both stay within the default 0.8 Jaccard of it.
constexpr const char* pagination =
    "Check the API pagination before concluding that a list is complete";
constexpr const char* pagination_refined =
    "Always check the API pagination before concluding that a list is complete";
constexpr const char* pagination_shorter =
    "Check the API pagination before concluding that a list is";

constexpr const char* timezone_text = "Do not assume that dates from the billing API are in local time";
constexpr const char* retry_text = "Retry idempotent requests with exponential back-off and jitter";

ev::insight make_insight(std::string id, std::string outcome, std::string text) {
  return ev::insight{std::move(id), std::move(outcome), std::move(text)};
}

ev::operation op_of(std::string type) {
  ev::operation op;
  op.type = std::move(type);
  return op;
}

ev::operation add(std::string section, std::string content) {
  auto op = op_of("ADD");
  op.section = std::move(section);
  op.content = std::move(content);
  return op;
}

ev::operation update(std::string id, std::string content) {
  auto op = op_of("UPDATE");
  op.id = std::move(id);
  op.content = std::move(content);
  return op;
}

ev::operation merge(std::vector<std::string> ids, std::string content) {
  auto op = op_of("MERGE");
  op.ids = std::move(ids);
  op.content = std::move(content);
  return op;
}

ev::operation del(std::string id) {
  auto op = op_of("DELETE");
  op.id = std::move(id);
  return op;
}

// A comparable rendering of an operation list.
std::string dump(const std::vector<ev::operation>& ops) {
  std::string out;
  for (const auto& op : ops) {
    out += op.type + "|" + op.section + "|" + op.content + "|" + op.id + "|";
    for (const auto& id : op.ids)
      out += id + ",";
    out += "|" + std::to_string(op.support) + "|" + std::to_string(op.failures) + "|";
    for (const auto& s : op.sources)
      out += s + ",";
    out += "|" + op.revised_from + "\n";
  }
  return out;
}

const pb::bullet* find(const pb::document& doc, const std::string& id) {
  for (const auto& s : doc.sections)
    for (const auto& l : s.lines)
      if (l.is_bullet && l.b.id == id)
        return &l.b;
  return nullptr;
}

std::string bullet_line(const std::string& id, int helpful, int harmful, const std::string& text) {
  return "[" + id + "] helpful=" + std::to_string(helpful) + " harmful=" + std::to_string(harmful) +
         " :: " + text + "\n";
}

} // namespace

// ------------------------------------------------------------------ insights

TEST(SectionFor, AvoidAndNeverGoToMistakes) {
  EXPECT_EQ(ev::section_for(make_insight("o1", "success", "Avoid: retrying blindly")), mistakes);
  EXPECT_EQ(ev::section_for(make_insight("o1", "success", "Never trust cached totals")), mistakes);
  EXPECT_EQ(ev::section_for(make_insight("o1", "success", "  avoid global state")), mistakes);
}

TEST(SectionFor, FirstSentenceOfAFailureGoesToMistakes) {
  EXPECT_EQ(ev::section_for(make_insight("o1", "failure", "The export used a stale token.")),
            mistakes);
  EXPECT_EQ(ev::section_for(make_insight("o1", "partial", "Only half the rows were copied.")),
            mistakes);
}

TEST(SectionFor, LessonsAndSuccessesGoToStrategies) {
  EXPECT_EQ(ev::section_for(make_insight("o1", "success", "Lesson: cache the schema")), strategies);
  EXPECT_EQ(ev::section_for(make_insight("o1", "failure", "Lesson: cache the schema")), strategies);
  EXPECT_EQ(ev::section_for(make_insight("o1", "partial", "Always pin versions")), strategies);
  EXPECT_EQ(ev::section_for(make_insight("o1", "success", "Nevertheless, pin versions")),
            strategies);
}

TEST(BulletText, DropsLabelsAndCollapsesWhitespace) {
  EXPECT_EQ(ev::bullet_text(make_insight("o", "success", "Lesson: Check the logs first.")),
            "Check the logs first.");
  EXPECT_EQ(ev::bullet_text(make_insight("o", "success", "Insight:   read\n the  \t docs ")),
            "read the docs");
  EXPECT_EQ(ev::bullet_text(make_insight("o", "success", "lesson: lower-case label")),
            "lower-case label");
  EXPECT_EQ(ev::bullet_text(make_insight("o", "failure", "Avoid: retrying blindly")),
            "Avoid retrying blindly");
}

TEST(BulletText, JoinedMarkerLinesLoseEveryLabel) {
  EXPECT_EQ(ev::bullet_text(make_insight("o", "failure",
                                         "Lesson: pin versions. Avoid: floating tags Never skip CI")),
            "pin versions. Avoid floating tags Never skip CI");
  // A lower-case "lesson:" inside a sentence is prose, not a label.
  EXPECT_EQ(ev::bullet_text(make_insight("o", "success", "Keep the lesson: tests first")),
            "Keep the lesson: tests first");
  EXPECT_EQ(ev::bullet_text(make_insight("o", "success", "Lesson:")), "");
}

// ------------------------------------------------------------------ propose

TEST(Propose, NearDuplicateInsightsBecomeOneAddWithSupport) {
  // The test relies on the three texts being near-duplicates.
  ASSERT_GE(ev::similarity(pagination, pagination_refined), 0.8);
  ASSERT_GE(ev::similarity(pagination, pagination_shorter), 0.8);
  pb::document empty;
  std::vector<ev::insight> in{
      make_insight("o1", "success", std::string("Lesson: ") + pagination),
      make_insight("o2", "failure", std::string("Lesson: ") + pagination_refined),
      make_insight("o3", "success", retry_text),
      make_insight("o4", "partial", std::string("Insight: ") + pagination_shorter),
  };
  auto ops = ev::propose(empty, in, {});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].type, "ADD");
  EXPECT_EQ(ops[0].content, pagination_refined); // the longest of the group
  EXPECT_EQ(ops[0].section, strategies);
  EXPECT_EQ(ops[0].support, 3);
  EXPECT_EQ(ops[0].failures, 2);
  EXPECT_EQ(ops[0].sources, (std::vector<std::string>{"o1", "o2", "o4"}));
  EXPECT_EQ(ops[1].type, "ADD");
  EXPECT_EQ(ops[1].content, retry_text);
  EXPECT_EQ(ops[1].support, 1);
  EXPECT_EQ(ops[1].sources, (std::vector<std::string>{"o3"}));
}

TEST(Propose, AddsFollowTheFirstSupportingOutcome) {
  pb::document empty;
  std::vector<ev::insight> in{
      make_insight("o1", "success", retry_text),
      make_insight("o2", "failure", "The export used a stale token from yesterday."),
      make_insight("o3", "success", retry_text),
  };
  auto ops = ev::propose(empty, in, {});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].content, retry_text);
  EXPECT_EQ(ops[0].support, 2);
  EXPECT_EQ(ops[1].content, "The export used a stale token from yesterday.");
  EXPECT_EQ(ops[1].section, mistakes);
}

TEST(Propose, InsightRefiningABulletBecomesAnUpdate) {
  auto doc = pb::parse(std::string("## STRATEGIES & INSIGHTS\n") +
                       bullet_line("sai-00001", 3, 0, pagination) +
                       bullet_line("sai-00002", 0, 0, retry_text));
  auto ops = ev::propose(doc, {make_insight("o9", "failure", pagination_refined)}, {});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].type, "UPDATE");
  EXPECT_EQ(ops[0].id, "sai-00001");
  EXPECT_EQ(ops[0].content, pagination_refined);
  EXPECT_EQ(ops[0].support, 1);
  EXPECT_EQ(ops[0].failures, 1);
  EXPECT_EQ(ops[0].sources, (std::vector<std::string>{"o9"}));
}

TEST(Propose, ShorterOrEqualInsightNearABulletProposesNothing) {
  auto doc = pb::parse(std::string("## STRATEGIES & INSIGHTS\n") +
                       bullet_line("sai-00001", 3, 0, pagination));
  EXPECT_TRUE(ev::propose(doc, {make_insight("o1", "success", pagination_shorter)}, {}).empty());
  EXPECT_TRUE(ev::propose(doc, {make_insight("o1", "success", pagination)}, {}).empty());
}

TEST(Propose, NearDuplicateBulletsMergeIntoTheOldestId) {
  // The newer bullet comes first in the document: age, not position, decides.
  auto doc = pb::parse(std::string("## STRATEGIES & INSIGHTS\n") +
                       bullet_line("sai-00007", 1, 0, pagination_refined) +
                       bullet_line("sai-00002", 4, 1, retry_text) + "## OTHERS\n" +
                       bullet_line("misc-00003", 2, 0, pagination));
  auto ops = ev::propose(doc, {}, {});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].type, "MERGE");
  EXPECT_EQ(ops[0].ids, (std::vector<std::string>{"misc-00003", "sai-00007"}));
  EXPECT_EQ(ops[0].content, pagination_refined); // the longest
}

TEST(Propose, DeleteRuleBoundary) {
  auto doc = pb::parse("## STRATEGIES & INSIGHTS\n" +
                       bullet_line("sai-00001", 0, 2, "harmful equals helpful plus two alpha") +
                       bullet_line("sai-00002", 1, 3, "harmful equals helpful plus two beta") +
                       bullet_line("sai-00003", 1, 2, "harmful equals helpful plus one gamma") +
                       bullet_line("sai-00004", 5, 5, "balanced counters stay in place"));
  ev::curation_config cfg;
  cfg.dedup_threshold = 1.0; // keep the similar texts apart: only DELETE is under test
  auto ops = ev::propose(doc, {}, cfg);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].type, "DELETE");
  EXPECT_EQ(ops[0].id, "sai-00001");
  EXPECT_EQ(ops[1].type, "DELETE");
  EXPECT_EQ(ops[1].id, "sai-00002");
}

TEST(Propose, DeleteNeedsTwoHarmfulEvenWithASmallMargin) {
  auto doc = pb::parse("## OTHERS\n" + bullet_line("misc-00001", 0, 1, "one harmful only") +
                       bullet_line("misc-00002", 0, 2, "two harmful now"));
  ev::curation_config cfg;
  cfg.prune_margin = 1;
  auto ops = ev::propose(doc, {}, cfg);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].id, "misc-00002");
}

TEST(Propose, OrderIsDeletesMergesUpdatesAdds) {
  auto doc = pb::parse(std::string("## STRATEGIES & INSIGHTS\n") +
                       bullet_line("sai-00004", 0, 0, retry_text) +
                       bullet_line("sai-00005", 0, 0, retry_text) +
                       bullet_line("sai-00006", 2, 0, pagination) + "## COMMON MISTAKES TO AVOID\n" +
                       bullet_line("err-00009", 0, 3, "Do not trust the cached totals") +
                       bullet_line("err-00001", 0, 4, "Do not skip the schema check"));
  std::vector<ev::insight> in{
      make_insight("o1", "failure", "Never deploy on a Friday afternoon without a rollback plan"),
      make_insight("o2", "success", pagination_refined),
  };
  auto ops = ev::propose(doc, in, {});
  ASSERT_EQ(ops.size(), 5u) << dump(ops);
  EXPECT_EQ(ops[0].type + " " + ops[0].id, "DELETE err-00001");
  EXPECT_EQ(ops[1].type + " " + ops[1].id, "DELETE err-00009");
  EXPECT_EQ(ops[2].type, "MERGE");
  EXPECT_EQ(ops[2].ids, (std::vector<std::string>{"sai-00004", "sai-00005"}));
  EXPECT_EQ(ops[3].type + " " + ops[3].id, "UPDATE sai-00006");
  EXPECT_EQ(ops[4].type, "ADD");
  EXPECT_EQ(ops[4].section, mistakes);
}

TEST(Propose, InsightNearAMergedBulletUpdatesTheSurvivor) {
  auto doc = pb::parse(std::string("## STRATEGIES & INSIGHTS\n") +
                       bullet_line("sai-00001", 0, 0, pagination_shorter) +
                       bullet_line("sai-00002", 0, 0, pagination));
  auto ops = ev::propose(doc, {make_insight("o1", "success", pagination_refined)}, {});
  ASSERT_EQ(ops.size(), 2u) << dump(ops);
  EXPECT_EQ(ops[0].type, "MERGE");
  EXPECT_EQ(ops[1].type + " " + ops[1].id, "UPDATE sai-00001");
}

TEST(Propose, IsDeterministic) {
  auto doc = pb::parse(std::string("## STRATEGIES & INSIGHTS\n") +
                       bullet_line("sai-00001", 0, 0, retry_text) +
                       bullet_line("sai-00002", 0, 0, retry_text) +
                       bullet_line("sai-00003", 0, 3, timezone_text));
  std::vector<ev::insight> in{make_insight("o1", "failure", pagination),
                              make_insight("o2", "success", pagination_refined),
                              make_insight("o3", "partial", "Lesson: read the changelog first")};
  auto first = dump(ev::propose(doc, in, {}));
  EXPECT_FALSE(first.empty());
  for (int k = 0; k < 3; ++k)
    EXPECT_EQ(dump(ev::propose(doc, in, {})), first);
}

TEST(Propose, EmptyInsightsAreIgnored) {
  pb::document empty;
  EXPECT_TRUE(ev::propose(empty, {make_insight("o1", "failure", "Lesson:   ")}, {}).empty());
}

// ------------------------------------------------------------------ revise

TEST(Revise, NearDuplicateAddBecomesAnUpdate) {
  auto doc = pb::parse(std::string("## STRATEGIES & INSIGHTS\n") +
                       bullet_line("sai-00003", 1, 0, pagination));
  auto op = add(strategies, pagination_refined);
  op.support = 2;
  ASSERT_TRUE(ev::revise(op, {"near-duplicate of sai-00003 (0.91): should be an UPDATE or MERGE"},
                         doc, {}));
  EXPECT_EQ(op.type, "UPDATE");
  EXPECT_EQ(op.id, "sai-00003");
  EXPECT_EQ(op.content, pagination_refined);
  EXPECT_EQ(op.support, 2);
  EXPECT_NE(op.revised_from.find("sai-00003"), std::string::npos);
}

TEST(Revise, OverLongContentTakesItsFirstSentence) {
  ev::curation_config cfg;
  cfg.max_bullet_chars = 40;
  auto op = add(strategies, "Check the pagination of every list. Then compare the totals with the "
                            "report and write them down.");
  ASSERT_TRUE(ev::revise(op, {"content is 95 chars, over max_bullet_chars 40"}, {}, cfg));
  EXPECT_EQ(op.type, "ADD");
  EXPECT_EQ(op.content, "Check the pagination of every list.");
  EXPECT_FALSE(op.revised_from.empty());
}

TEST(Revise, OverLongSentenceIsCutAtAWordBoundary) {
  ev::curation_config cfg;
  cfg.max_bullet_chars = 30;
  auto op = add(strategies, "Check pagination, totals, and every cursor before concluding");
  ASSERT_TRUE(ev::revise(op, {"content is 61 chars, over max_bullet_chars 30"}, {}, cfg));
  // The 30th character ends "and "; the next word does not fit.
  EXPECT_EQ(op.content, "Check pagination, totals, and");
  EXPECT_LE(op.content.size(), 30u);

  auto comma = add(strategies, "Check pagination, totals and every cursor before concluding");
  cfg.max_bullet_chars = 17;
  ASSERT_TRUE(ev::revise(comma, {"too long"}, {}, cfg));
  EXPECT_EQ(comma.content, "Check pagination"); // no dangling comma
}

TEST(Revise, OneHugeWordIsCutAtTheLimit) {
  ev::curation_config cfg;
  cfg.max_bullet_chars = 10;
  auto op = add(strategies, std::string(25, 'a'));
  ASSERT_TRUE(ev::revise(op, {"too long"}, {}, cfg));
  EXPECT_EQ(op.content, std::string(10, 'a'));
}

TEST(Revise, NonActionableFeedbackReturnsFalse) {
  auto doc = pb::parse(std::string("## STRATEGIES & INSIGHTS\n") +
                       bullet_line("sai-00003", 1, 0, pagination));
  auto op = add(strategies, "Check logs");
  auto before = dump({op});
  EXPECT_FALSE(ev::revise(op, {"content is a fragment (2 words)"}, doc, {}));
  EXPECT_FALSE(ev::revise(op, {"tries to override instructions"}, doc, {}));
  EXPECT_FALSE(ev::revise(op, {"grows the playbook to 9000 tokens, past the budget 8000"}, doc, {}));
  EXPECT_FALSE(ev::revise(op, {}, doc, {}));
  // A near-duplicate of a bullet that is not in the playbook cannot be updated.
  EXPECT_FALSE(ev::revise(op, {"near-duplicate of sai-00099 (0.90)"}, doc, {}));
  EXPECT_EQ(dump({op}), before);
}

// ------------------------------------------------------------------ apply

TEST(Apply, AddGoesAfterTheLastBulletOfItsSection) {
  auto doc = pb::parse("## STRATEGIES & INSIGHTS\n" + bullet_line("sai-00001", 1, 0, "first one") +
                       "a closing note\n" + "## OTHERS\n" + bullet_line("misc-00002", 0, 0, "x"));
  std::int64_t next = 3;
  auto applied = ev::apply(doc, {add(strategies, "Second\n one")}, next);
  EXPECT_EQ(next, 4);
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0], "ADD sai-00003: Second one");
  EXPECT_EQ(pb::print(doc), "## STRATEGIES & INSIGHTS\n" + bullet_line("sai-00001", 1, 0, "first one") +
                                bullet_line("sai-00003", 0, 0, "Second one") + "a closing note\n" +
                                "## OTHERS\n" + bullet_line("misc-00002", 0, 0, "x"));
}

TEST(Apply, AddCreatesAMissingSectionAtTheEnd) {
  auto doc = pb::parse("## OTHERS\n" + bullet_line("misc-00001", 0, 0, "x") + "## EMPTY\n");
  std::int64_t next = 2;
  ev::apply(doc, {add(mistakes, "Never skip the schema check"), add("empty", "goes in EMPTY")},
            next);
  EXPECT_EQ(pb::print(doc), "## OTHERS\n" + bullet_line("misc-00001", 0, 0, "x") + "## EMPTY\n" +
                                bullet_line("e-00003", 0, 0, "goes in EMPTY") +
                                "## COMMON MISTAKES TO AVOID\n" +
                                bullet_line("err-00002", 0, 0, "Never skip the schema check"));
  EXPECT_EQ(next, 4);
}

TEST(Apply, DescriptionsCutLongContent) {
  pb::document doc;
  std::int64_t next = 7;
  std::string content = "Check the pagination of every list endpoint before you conclude that "
                        "the list is complete";
  auto applied = ev::apply(doc, {add(strategies, content)}, next);
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0], "ADD sai-00007: Check the pagination of every list endpoint before you\u2026");
}

TEST(Apply, MergeKeepsTheFirstIdAndSumsCounters) {
  auto doc = pb::parse("## STRATEGIES & INSIGHTS\n" + bullet_line("sai-00004", 2, 1, "newer twin") +
                       bullet_line("sai-00001", 3, 0, "older twin") + "## OTHERS\n" +
                       bullet_line("misc-00006", 1, 4, "third twin"));
  std::int64_t next = 7;
  auto applied =
      ev::apply(doc, {merge({"sai-00001", "sai-00004", "misc-00006"}, "merged text")}, next);
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0], "MERGE sai-00001 \u2190 sai-00004, misc-00006");
  EXPECT_EQ(pb::print(doc), "## STRATEGIES & INSIGHTS\n" +
                                bullet_line("sai-00001", 6, 5, "merged text") + "## OTHERS\n");
  EXPECT_EQ(next, 7);
}

TEST(Apply, UpdateAndDeleteAndSkippedOperations) {
  auto doc = pb::parse("## COMMON MISTAKES TO AVOID\n" + bullet_line("err-00002", 4, 1, "old") +
                       "## CONTEXT CLUES & INDICATORS\n" + bullet_line("ctx-00009", 0, 3, "bad"));
  std::int64_t next = 10;
  auto applied = ev::apply(doc,
                           {update("err-00002", "new text"), del("ctx-00009"), del("ctx-00009"),
                            update("sai-00404", "nobody"), merge({"sai-00404", "err-00002"}, "x"),
                            merge({"err-00002", "ctx-00009"}, "gone partner"), op_of("RENAME")},
                           next);
  EXPECT_EQ(applied, (std::vector<std::string>{"UPDATE err-00002", "DELETE ctx-00009"}));
  EXPECT_EQ(pb::print(doc), "## COMMON MISTAKES TO AVOID\n" + bullet_line("err-00002", 4, 1, "new text") +
                                "## CONTEXT CLUES & INDICATORS\n");
}

TEST(Apply, IdsAreNeverReusedAfterDelete) {
  auto doc = pb::parse("## STRATEGIES & INSIGHTS\n" + bullet_line("sai-00001", 0, 0, "a") +
                       bullet_line("sai-00002", 0, 0, "b") + bullet_line("sai-00003", 0, 4, "c"));
  std::int64_t next = pb::next_id_after(doc);
  ASSERT_EQ(next, 4);
  ev::apply(doc, {del("sai-00003")}, next);
  // The document alone would now hand out 3 again; the counter does not.
  ASSERT_EQ(pb::next_id_after(doc), 3);
  auto applied = ev::apply(doc, {add(strategies, "d")}, next);
  EXPECT_EQ(applied, (std::vector<std::string>{"ADD sai-00004: d"}));
  EXPECT_EQ(find(doc, "sai-00003"), nullptr);
  EXPECT_NE(find(doc, "sai-00004"), nullptr);
  EXPECT_EQ(next, 5);

  // Within one batch too.
  std::int64_t next2 = 4;
  auto doc2 = pb::parse("## STRATEGIES & INSIGHTS\n" + bullet_line("sai-00003", 0, 4, "c"));
  EXPECT_EQ(ev::apply(doc2, {del("sai-00003"), add(strategies, "e")}, next2),
            (std::vector<std::string>{"DELETE sai-00003", "ADD sai-00004: e"}));
}

TEST(Apply, CounterBehindTheDocumentIsRaised) {
  auto doc = pb::parse("## STRATEGIES & INSIGHTS\n" + bullet_line("sai-00008", 0, 0, "a"));
  std::int64_t next = 1;
  EXPECT_EQ(ev::apply(doc, {add(strategies, "b")}, next),
            (std::vector<std::string>{"ADD sai-00009: b"}));
  EXPECT_EQ(next, 10);
}

// ------------------------------------------------------------------ budget

namespace {

pb::document budget_doc() {
  return pb::parse("## STRATEGIES & INSIGHTS\n" +
                   bullet_line("sai-00001", 5, 0, "useful and old, keep it around") +
                   bullet_line("sai-00005", 0, 0, "never used, newer than three") +
                   bullet_line("sai-00003", 0, 0, "never used, older than five") +
                   bullet_line("sai-00002", 1, 3, "net harmful, goes before the rest") +
                   bullet_line("sai-00004", 3, 1, "net helpful two, stays longer"));
}

} // namespace

TEST(Budget, FittingDocumentIsUntouched) {
  auto doc = budget_doc();
  ev::curation_config cfg;
  cfg.token_budget = pb::token_estimate(doc);
  EXPECT_TRUE(ev::enforce_budget(doc, cfg).empty());
  EXPECT_EQ(pb::print(doc), pb::print(budget_doc()));
}

TEST(Budget, PruneRemovesLowestUtilityThenOldest) {
  auto doc = budget_doc();
  ev::curation_config cfg;
  cfg.token_budget = pb::token_estimate(doc) - 40; // three lines must go
  auto pruned = ev::enforce_budget(doc, cfg);
  EXPECT_EQ(pruned, (std::vector<std::string>{"PRUNE sai-00002 (budget)", "PRUNE sai-00003 (budget)",
                                               "PRUNE sai-00005 (budget)"}));
  EXPECT_LE(pb::token_estimate(doc), cfg.token_budget);
  EXPECT_EQ(pb::print(doc), "## STRATEGIES & INSIGHTS\n" +
                                bullet_line("sai-00001", 5, 0, "useful and old, keep it around") +
                                bullet_line("sai-00004", 3, 1, "net helpful two, stays longer"));
}

TEST(Budget, PruneNeverExceedsTheBudget) {
  for (std::int64_t budget = 0; budget <= pb::token_estimate(budget_doc()); ++budget) {
    auto doc = budget_doc();
    ev::curation_config cfg;
    cfg.token_budget = budget;
    auto out = ev::enforce_budget(doc, cfg);
    if (!out.empty() && out.front().rfind("rejected", 0) == 0) {
      EXPECT_EQ(pb::print(doc), pb::print(budget_doc())) << budget;
    } else {
      EXPECT_LE(pb::token_estimate(doc), budget);
    }
    // Only the heading is left when every bullet is gone: 7 tokens.
    if (budget >= 7) {
      EXPECT_TRUE(out.empty() || out.front().rfind("PRUNE", 0) == 0) << budget;
    }
  }
}

TEST(Budget, TiesInDocumentOrderWhenIdsHaveNoNumber) {
  auto doc = pb::parse("## OTHERS\n" + bullet_line("custom-b", 0, 0, "second in age order") +
                       bullet_line("custom-a", 0, 0, "first in document order"));
  ev::curation_config cfg;
  cfg.token_budget = pb::token_estimate(doc) - 1;
  EXPECT_EQ(ev::enforce_budget(doc, cfg), (std::vector<std::string>{"PRUNE custom-b (budget)"}));
}

TEST(Budget, RejectKeepsTheContent) {
  auto doc = budget_doc();
  ev::curation_config cfg;
  cfg.budget_policy = "reject";
  cfg.token_budget = 10;
  auto n = pb::token_estimate(doc);
  auto out = ev::enforce_budget(doc, cfg);
  EXPECT_EQ(out, (std::vector<std::string>{"rejected: token estimate " + std::to_string(n) +
                                           " exceeds the budget 10"}));
  EXPECT_EQ(pb::print(doc), pb::print(budget_doc()));
}

TEST(Budget, PruneThatCannotFitRejectsAndKeepsTheContent) {
  auto doc = pb::parse("# a preamble far longer than the whole budget allows for\n## OTHERS\n" +
                       bullet_line("misc-00001", 0, 0, "x"));
  auto original = pb::print(doc);
  ev::curation_config cfg;
  cfg.token_budget = 5;
  auto out = ev::enforce_budget(doc, cfg);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rfind("rejected: ", 0), 0u);
  EXPECT_EQ(pb::print(doc), original);
}

// ------------------------------------------------------------------ summary

TEST(DiffSummary, FirstTenThenACount) {
  EXPECT_EQ(ev::diff_summary({}), "");
  EXPECT_EQ(ev::diff_summary({"ADD sai-00001: x", "DELETE ctx-00002"}),
            "ADD sai-00001: x; DELETE ctx-00002");
  std::vector<std::string> ten;
  for (int i = 1; i <= 10; ++i)
    ten.push_back("op" + std::to_string(i));
  EXPECT_EQ(ev::diff_summary(ten), "op1; op2; op3; op4; op5; op6; op7; op8; op9; op10");
  auto twelve = ten;
  twelve.push_back("op11");
  twelve.push_back("op12");
  EXPECT_EQ(ev::diff_summary(twelve),
            "op1; op2; op3; op4; op5; op6; op7; op8; op9; op10; \u2026and 2 more");
}

// ------------------------------------------------------------------ end to end

TEST(Curation, ProposeThenApplyIsDeterministic) {
  auto text = "## STRATEGIES & INSIGHTS\n" + bullet_line("sai-00001", 0, 0, retry_text) +
              bullet_line("sai-00002", 2, 0, retry_text) + bullet_line("sai-00003", 0, 2, timezone_text);
  std::vector<ev::insight> in{make_insight("o1", "failure", "Never trust cached totals in reports"),
                              make_insight("o2", "success", pagination)};
  std::string first;
  for (int k = 0; k < 2; ++k) {
    auto doc = pb::parse(text);
    std::int64_t next = pb::next_id_after(doc);
    auto applied = ev::apply(doc, ev::propose(doc, in, {}), next);
    auto result = pb::print(doc) + ev::diff_summary(applied);
    if (k == 0)
      first = result;
    EXPECT_EQ(result, first);
  }
  EXPECT_EQ(first, "## STRATEGIES & INSIGHTS\n" + bullet_line("sai-00001", 2, 0, retry_text) +
                       bullet_line("sai-00005", 0, 0, pagination) +
                       "## COMMON MISTAKES TO AVOID\n" +
                       bullet_line("err-00004", 0, 0, "Never trust cached totals in reports") +
                       "DELETE sai-00003; MERGE sai-00001 \u2190 sai-00002; ADD err-00004: Never "
                       "trust cached totals in reports; ADD sai-00005: Check the API pagination "
                       "before concluding that a list is\u2026");
}
