// Shingling, Jaccard, and the prefix-filtering index checked against brute force.
#include "actors/evolution/similarity.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <limits>
#include <random>
#include <stdexcept>
#include <tuple>

#include <gtest/gtest.h>

using namespace troupe::evolution;

namespace {

using strings = std::vector<std::string>;

// Same acceptance rule as the index: scores are exact ratios, the slack only
// absorbs a threshold that is not representable.
bool meets(double score, double threshold) { return score >= threshold - 1e-12; }

std::vector<similar_pair> brute_pairs(const strings& texts, double threshold) {
  std::vector<strings> sets;
  for (const auto& t : texts)
    sets.push_back(shingles(t));
  std::vector<similar_pair> out;
  for (std::size_t a = 0; a < sets.size(); ++a)
    for (std::size_t b = a + 1; b < sets.size(); ++b)
      if (double s = jaccard(sets[a], sets[b]); meets(s, threshold))
        out.push_back({a, b, s});
  return out;
}

std::vector<similar> brute_near(const std::vector<strings>& sets, std::string_view query,
                                double threshold) {
  auto q = shingles(query);
  std::vector<similar> out;
  for (std::size_t i = 0; i < sets.size(); ++i)
    if (double s = jaccard(q, sets[i]); meets(s, threshold))
      out.push_back({i, s});
  std::sort(out.begin(), out.end(), [](const similar& x, const similar& y) {
    return x.score != y.score ? x.score > y.score : x.index < y.index;
  });
  return out;
}

void expect_same(const std::vector<similar_pair>& got, const std::vector<similar_pair>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(std::tie(got[i].a, got[i].b), std::tie(want[i].a, want[i].b)) << "pair " << i;
    EXPECT_DOUBLE_EQ(got[i].score, want[i].score) << "pair " << i;
  }
}

void expect_same(const std::vector<similar>& got, const std::vector<similar>& want,
                 std::string_view query) {
  ASSERT_EQ(got.size(), want.size()) << "query: " << query;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].index, want[i].index) << "query: " << query;
    EXPECT_DOUBLE_EQ(got[i].score, want[i].score) << "query: " << query;
  }
}

std::string join(const strings& words) {
  std::string out;
  for (const auto& w : words)
    out += (out.empty() ? "" : " ") + w;
  return out;
}

strings random_words(std::mt19937& rng, const strings& vocabulary, std::size_t lo,
                     std::size_t hi) {
  std::uniform_int_distribution<std::size_t> length(lo, hi);
  std::uniform_int_distribution<std::size_t> pick(0, vocabulary.size() - 1);
  strings out(length(rng));
  for (auto& w : out)
    w = vocabulary[pick(rng)];
  return out;
}

strings with_one_word_changed(std::mt19937& rng, strings words, const strings& vocabulary) {
  std::uniform_int_distribution<std::size_t> at(0, words.size() - 1);
  std::uniform_int_distribution<std::size_t> pick(0, vocabulary.size() - 1);
  words[at(rng)] = vocabulary[pick(rng)];
  return words;
}

strings small_vocabulary() {
  strings v;
  for (int i = 0; i < 40; ++i)
    v.push_back("w" + std::to_string(i));
  return v;
}

// Many near-duplicates: random texts, each followed by a one-word variant, plus
// exact copies under different case and punctuation, and texts with no words.
strings random_corpus(std::mt19937& rng) {
  auto vocabulary = small_vocabulary();
  strings texts;
  for (int i = 0; i < 300; ++i) {
    auto words = random_words(rng, vocabulary, 5, 15);
    texts.push_back(join(words));
    texts.push_back(join(with_one_word_changed(rng, words, vocabulary)));
    if (i % 6 == 0) {
      auto shouted = join(words);
      for (auto& c : shouted)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      texts.push_back(shouted + "!");
    }
  }
  texts.push_back("");
  texts.push_back("... !!!");
  return texts;
}

std::string random_word(std::mt19937& rng) {
  std::uniform_int_distribution<int> length(3, 9);
  std::uniform_int_distribution<int> letter('a', 'z');
  std::string w(static_cast<std::size_t>(length(rng)), ' ');
  for (auto& c : w)
    c = static_cast<char>(letter(rng));
  return w;
}

} // namespace

TEST(Shingles, WordsAndAdjacentPairs) {
  EXPECT_EQ(shingles("Check the API's pagination!"),
            (strings{"api", "api s", "check", "check the", "pagination", "s", "s pagination",
                     "the", "the api"}));
}

TEST(Shingles, CaseFoldsAsciiOnly) {
  EXPECT_EQ(shingles("HeLLo WORLD"), shingles("hello world"));
  EXPECT_EQ(shingles("v2 API"), (strings{"api", "v2", "v2 api"}));
}

TEST(Shingles, Utf8BytesStayInsideWords) {
  // "é" and "É" are two-byte sequences: kept as-is (not folded) and never split.
  EXPECT_EQ(shingles("Café naïve"), (strings{"café", "café naïve", "naïve"}));
  EXPECT_EQ(shingles("ÉCOLE"), (strings{"École"}));
  EXPECT_NE(shingles("école"), shingles("École"));
}

TEST(Shingles, SeparatorsAndDuplicates) {
  EXPECT_TRUE(shingles("").empty());
  EXPECT_TRUE(shingles(" \t\n.,;!?-_()").empty());
  EXPECT_EQ(shingles("go go go"), (strings{"go", "go go"}));
  EXPECT_EQ(shingles("a_b-c"), (strings{"a", "a b", "b", "b c", "c"}));
}

TEST(Jaccard, IdenticalDisjointEmpty) {
  strings a{"a", "b", "c"};
  EXPECT_DOUBLE_EQ(jaccard(a, a), 1.0);
  EXPECT_DOUBLE_EQ(jaccard(a, strings{"d", "e"}), 0.0);
  EXPECT_DOUBLE_EQ(jaccard(a, {}), 0.0);
  EXPECT_DOUBLE_EQ(jaccard({}, {}), 0.0);
  EXPECT_DOUBLE_EQ(jaccard(a, strings{"b", "c", "d"}), 2.0 / 4.0);
}

TEST(Similarity, SymmetricAndBounded) {
  std::mt19937 rng(7);
  auto vocabulary = small_vocabulary();
  for (int i = 0; i < 200; ++i) {
    auto a = join(random_words(rng, vocabulary, 0, 8));
    auto b = join(random_words(rng, vocabulary, 0, 8));
    double s = similarity(a, b);
    EXPECT_EQ(s, similarity(b, a));
    EXPECT_GE(s, 0.0);
    EXPECT_LE(s, 1.0);
  }
  EXPECT_DOUBLE_EQ(similarity("Same words.", "same WORDS"), 1.0);
  EXPECT_DOUBLE_EQ(similarity("", ""), 0.0);
}

TEST(SimilarityIndex, RejectsThresholdOutsideUnitInterval) {
  strings texts{"a b"};
  EXPECT_THROW(similarity_index(texts, 0.0), std::invalid_argument);
  EXPECT_THROW(similarity_index(texts, 1.5), std::invalid_argument);
  EXPECT_THROW(similarity_index(texts, std::numeric_limits<double>::quiet_NaN()),
               std::invalid_argument);
  EXPECT_EQ(similarity_index(texts, 1.0).size(), 1u);
}

TEST(SimilarityIndex, NearSortsByScoreThenIndex) {
  strings texts{"alpha beta gamma delta", "alpha beta gamma delta epsilon",
                "Alpha, beta; gamma: delta.", "zeta eta theta", "alpha beta"};
  similarity_index index(texts, 0.5);
  auto found = index.near("alpha beta gamma delta");
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].index, 0u);
  EXPECT_EQ(found[1].index, 2u);
  EXPECT_EQ(found[2].index, 1u);
  EXPECT_DOUBLE_EQ(found[0].score, 1.0);
  EXPECT_DOUBLE_EQ(found[1].score, 1.0);
  EXPECT_DOUBLE_EQ(found[2].score, 7.0 / 9.0);
}

TEST(SimilarityIndex, ThresholdOneFindsOnlyIdenticalSets) {
  strings texts{"Hello world", "hello, WORLD!", "world hello", "hello world again", "", "hello"};
  similarity_index index(texts, 1.0);
  auto pairs = index.near_pairs();
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].a, 0u);
  EXPECT_EQ(pairs[0].b, 1u);
  EXPECT_DOUBLE_EQ(pairs[0].score, 1.0);

  auto found = index.near("HELLO world");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].index, 0u);
  EXPECT_EQ(found[1].index, 1u);
  ASSERT_EQ(index.near("hello").size(), 1u);
  EXPECT_EQ(index.near("hello")[0].index, 5u);
}

TEST(SimilarityIndex, EmptyTextsMatchNothing) {
  similarity_index index({"", "!!!", "a b"}, 0.1);
  EXPECT_TRUE(index.near("").empty());
  EXPECT_TRUE(index.near("?").empty());
  EXPECT_TRUE(index.near_pairs().empty());
  EXPECT_TRUE(similarity_index({}, 0.5).near_pairs().empty());
}

TEST(SimilarityIndex, ScoreExactlyAtThresholdIsKept) {
  // {a, b, a b, b a, a a} against {a, b, a b, b a}: 4 / 5 = 0.8.
  similarity_index index({"a b a a", "a b a"}, 0.8);
  auto pairs = index.near_pairs();
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_DOUBLE_EQ(pairs[0].score, 0.8);
  EXPECT_EQ(index.near("a b a").size(), 2u);
}

TEST(SimilarityIndex, UnknownQueryShinglesCountTowardsSize) {
  similarity_index index({"red green blue"}, 0.5);
  // 5 indexed shingles; the query adds "yellow" and "blue yellow": 5 / 7.
  auto found = index.near("red green blue yellow");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_DOUBLE_EQ(found[0].score, 5.0 / 7.0);
  EXPECT_TRUE(index.near("cyan magenta").empty());
}

TEST(SimilarityIndex, MatchesBruteForceOnRandomTexts) {
  std::mt19937 rng(20240607);
  auto texts = random_corpus(rng);
  std::vector<strings> sets;
  for (const auto& t : texts)
    sets.push_back(shingles(t));

  // Queries: indexed texts themselves, variants of them, and texts mixing in
  // words the index has never seen.
  auto vocabulary = small_vocabulary();
  auto wider = vocabulary;
  for (int i = 0; i < 10; ++i)
    wider.push_back("new" + std::to_string(i));
  strings queries;
  for (std::size_t i = 0; i < texts.size(); i += 3)
    queries.push_back(texts[i]);
  for (int i = 0; i < 150; ++i)
    queries.push_back(join(random_words(rng, wider, 1, 15)));

  for (double threshold : {0.5, 0.8, 1.0}) {
    SCOPED_TRACE("threshold " + std::to_string(threshold));
    similarity_index index(texts, threshold);
    ASSERT_EQ(index.size(), texts.size());
    auto want = brute_pairs(texts, threshold);
    EXPECT_FALSE(want.empty()); // the corpus must exercise the index
    expect_same(index.near_pairs(), want);
    for (const auto& q : queries)
      expect_same(index.near(q), brute_near(sets, q, threshold), q);
  }
}

TEST(SimilarityIndex, SpeedSanityB7) {
  std::mt19937 rng(424242);
  strings vocabulary;
  for (int i = 0; i < 2000; ++i)
    vocabulary.push_back(random_word(rng));
  strings bullets;
  for (int i = 0; i < 2000; ++i) {
    // One bullet in ten restates an earlier one with a word changed.
    if (i % 10 == 9) {
      strings words;
      std::string prev = bullets[static_cast<std::size_t>(i) / 2];
      for (std::size_t b = 0, e; b < prev.size(); b = e + 1) {
        e = prev.find(' ', b);
        e = e == std::string::npos ? prev.size() : e;
        words.push_back(prev.substr(b, e - b));
      }
      bullets.push_back(join(with_one_word_changed(rng, words, vocabulary)));
    } else {
      bullets.push_back(join(random_words(rng, vocabulary, 10, 14)));
    }
  }
  strings queries;
  for (int i = 0; i < 200; ++i)
    queries.push_back(i % 2 ? bullets[static_cast<std::size_t>(i) * 7]
                            : join(random_words(rng, vocabulary, 10, 14)));

  similarity_index index(bullets, 0.8);
  auto pairs = index.near_pairs();
  std::size_t hits = 0;
  for (const auto& q : queries)
    hits += index.near(q).size();

  EXPECT_FALSE(pairs.empty());
  EXPECT_GE(hits, 100u); // every indexed query finds at least itself
  // The work, not the time (which depends on the machine and the build):
  // a brute force compares 2,000·1,999/2 pairs and 200·2,000 queries; the
  // prefix filter must spare nearly all of them.
  std::size_t brute_force = 2000 * 1999 / 2 + 200 * 2000;
  EXPECT_LT(index.comparisons(), brute_force / 100) << index.comparisons();
}
