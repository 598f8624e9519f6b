// Task-relevant context: ranking, the token budget, determinism, the cache.
#include "actors/playbooks/playbook_context.hpp"

#include <gtest/gtest.h>

using namespace troupe::playbook;

namespace {

const char* crafted =
    "## STRATEGIES & INSIGHTS\n"
    "[sai-00001] helpful=0 harmful=0 :: Write the changelog entry before tagging a release.\n"
    "[sai-00002] helpful=2 harmful=0 :: Retry a flaky HTTP request with exponential backoff.\n"
    "[sai-00003] helpful=0 harmful=0 :: Keep commit messages short and in the imperative.\n"
    "## COMMON MISTAKES\n"
    "[err-00004] helpful=0 harmful=0 :: Never retry a POST without an idempotency key.\n"
    "[err-00005] helpful=0 harmful=0 :: Do not log secrets, even at debug level.\n"
    "## CODE SNIPPETS\n"
    "[code-00006] helpful=0 harmful=0 :: Backoff: delay = base * 2^attempt, capped, with jitter.\n";

TEST(PlaybookContext, TheBulletsAboutTheTaskComeFirstAndUnrelatedOnesAreLeftOut) {
  context_index index{parse(crafted)};
  auto s = index.select("retry the failing HTTP request with backoff", 10000);
  ASSERT_GE(s.bullet_ids.size(), 3u);
  EXPECT_EQ(s.bullet_ids[0], "sai-00002"); // retry, HTTP, request, backoff
  std::vector<std::string> rest(s.bullet_ids.begin() + 1, s.bullet_ids.end());
  std::sort(rest.begin(), rest.end());
  EXPECT_EQ(rest, (std::vector<std::string>{"code-00006", "err-00004"}));
  EXPECT_EQ(s.total_bullets, 6);
  // ACE text by section, with ids: it parses back to exactly those bullets.
  auto back = bullets(parse(s.content));
  ASSERT_EQ(back.size(), s.bullet_ids.size());
  for (std::size_t i = 0; i < back.size(); ++i)
    EXPECT_NE(std::find(s.bullet_ids.begin(), s.bullet_ids.end(), back[i].id), s.bullet_ids.end());
  EXPECT_EQ(s.content.rfind("## STRATEGIES & INSIGHTS\n[sai-00002]", 0), 0u) << s.content;
  EXPECT_EQ(s.token_estimate, token_estimate(parse(s.content)));
  // Nothing in common: nothing chosen.
  auto none = index.select("zebra", 10000);
  EXPECT_TRUE(none.bullet_ids.empty());
  EXPECT_EQ(none.content, "");
}

TEST(PlaybookContext, HelpfulMinusHarmfulBreaksOtherwiseEqualRelevance) {
  context_index index{parse("## S\n"
                            "[s-00001] helpful=0 harmful=6 :: cache the build artifacts\n"
                            "[s-00002] helpful=0 harmful=0 :: cache the build artifacts\n"
                            "[s-00003] helpful=9 harmful=1 :: cache the build artifacts\n")};
  EXPECT_EQ(index.select("build cache", 1000).bullet_ids,
            (std::vector<std::string>{"s-00003", "s-00002", "s-00001"}));
  // Relevance still decides: a better match with no votes beats a weak one
  // with many.
  context_index votes{parse("## S\n"
                            "[s-00001] helpful=50 harmful=0 :: deploy on fridays is fine\n"
                            "[s-00002] helpful=0 harmful=0 :: rollback a failed deploy with the previous image\n")};
  EXPECT_EQ(votes.select("rollback failed deploy", 1000).bullet_ids.front(), "s-00002");
}

TEST(PlaybookContext, TheBudgetIsNeverExceeded) {
  std::string text = "## STRATEGIES & INSIGHTS\n";
  for (int i = 1; i <= 300; ++i)
    text += "[sai-" + std::to_string(10000 + i) + "] helpful=" + std::to_string(i % 7) +
            " harmful=0 :: step " + std::to_string(i) + " of the database migration needs " +
            std::string(static_cast<std::size_t>(i % 40), 'x') + " care\n";
  context_index index{parse(text)};
  std::size_t previous = 0;
  for (std::int64_t budget : {0, 1, 5, 12, 13, 40, 100, 333, 1000, 5000, 100000}) {
    auto s = index.select("database migration step", budget);
    EXPECT_LE(s.token_estimate, budget) << budget;
    EXPECT_GE(s.bullet_ids.size(), previous) << "a larger budget never takes fewer";
    previous = s.bullet_ids.size();
  }
  EXPECT_EQ(previous, 300u) << "everything fits in the largest";
}

TEST(PlaybookContext, TheSameInputGivesTheSameBytes) {
  std::string text = crafted;
  auto a = context_index{parse(text)}.select("retry request backoff idempotency", 60);
  auto b = context_index{parse(text)}.select("retry request backoff idempotency", 60);
  EXPECT_EQ(a.content, b.content);
  EXPECT_EQ(a.bullet_ids, b.bullet_ids);
  // Case and punctuation of the task do not matter; stop words do not count.
  auto c = context_index{parse(text)}.select("RETRY, the request; backoff?? idempotency!", 60);
  EXPECT_EQ(a.content, c.content);
}

TEST(PlaybookContext, WordsAreLowerCasedAndNonLatinTextIsMatched) {
  EXPECT_EQ(words("The HTTP-retry, in 2 steps"),
            (std::vector<std::string>{"http", "retry", "2", "steps"}));
  context_index index{parse("## S\n[s-00001] helpful=0 harmful=0 :: 重试 请求\n"
                            "[s-00002] helpful=0 harmful=0 :: other\n")};
  EXPECT_EQ(index.select("重试", 100).bullet_ids, (std::vector<std::string>{"s-00001"}));
}

TEST(PlaybookContext, TheCacheKeepsTheMostRecentWithinItsBound) {
  auto index = std::make_shared<const context_index>(parse(crafted));
  context_cache cache{index->approximate_bytes() * 2 + 1};
  cache.put("v1", index);
  cache.put("v2", index);
  EXPECT_EQ(cache.find("v1"), index); // v1 is now the most recent
  cache.put("v3", index);
  EXPECT_EQ(cache.entries(), 2u);
  EXPECT_EQ(cache.find("v2"), nullptr);
  EXPECT_NE(cache.find("v1"), nullptr);
  EXPECT_NE(cache.find("v3"), nullptr);
  EXPECT_EQ(cache.builds(), 3u);
}

} // namespace
