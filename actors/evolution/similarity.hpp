// Text similarity for de-duplication (evolution.md step 4), deterministic and
// documented:
//
//   words     = maximal runs of ASCII letters and digits, lower-cased; bytes
//               >= 0x80 count as letters (so UTF-8 words stay whole); all
//               other bytes separate words
//   shingles  = the set of words and of adjacent word pairs ("w1 w2")
//   similarity(a, b) = Jaccard of the two shingle sets = |A ∩ B| / |A ∪ B|,
//               0 when either set is empty
//
// similarity_index finds every indexed text at or above a threshold without
// comparing against all of them: prefix filtering. Shingles are ordered by
// how many indexed texts contain them (rarest first); a pair with Jaccard
// >= t shares at least ceil(t·|A|) shingles, so the first |A| − ceil(t·|A|) + 1
// shingles of A in that order meet those of B. Only texts met that way, and
// whose size is within [t·|A|, |A|/t], are compared exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace troupe::evolution {

// Sorted, unique shingles of `text`.
std::vector<std::string> shingles(std::string_view text);

// Jaccard of two sorted, unique sets.
double jaccard(const std::vector<std::string>& a, const std::vector<std::string>& b);

double similarity(std::string_view a, std::string_view b);

struct similar {
  std::size_t index; // position of the indexed text (in the order given)
  double score;
};

struct similar_pair {
  std::size_t a; // a < b
  std::size_t b;
  double score;
};

// An immutable index over `texts` for one threshold in (0, 1].
class similarity_index {
public:
  similarity_index(const std::vector<std::string>& texts, double threshold);

  // Every indexed text whose similarity with `text` is >= threshold, best
  // score first, ties by index.
  std::vector<similar> near(std::string_view text) const;

  // Every pair of indexed texts with similarity >= threshold, by (a, b).
  std::vector<similar_pair> near_pairs() const;

  std::size_t size() const { return sets_.size(); }

  // Exact comparisons near() and near_pairs() made so far: what the prefix
  // filter did not spare (a brute force makes one per pair).
  std::size_t comparisons() const { return comparisons_; }

private:
  // Words are interned as integers and a shingle is a 64-bit key (a word, or
  // an ordered pair of words); each key is replaced by its rank in a global
  // order (rarest first, then by key), so each set is a sorted vector of
  // integers: prefixes are leading elements and exact verification is an
  // integer merge walk. The order only decides which candidates are met
  // first, never a score, so any fixed order gives the same answers.
  using rank_t = std::uint32_t;
  double threshold_;
  std::vector<std::vector<rank_t>> sets_;                // per text: ranks, ascending
  std::unordered_map<std::string, std::uint32_t> words_; // word → id
  std::unordered_map<std::uint64_t, rank_t> ranks_;      // shingle key → rank
  std::vector<std::vector<std::uint32_t>> prefix_postings_; // rank → texts whose prefix holds it
  mutable std::size_t comparisons_ = 0;

  // The distinct shingle keys of a query text; words the index does not
  // hold get ids of their own, so their shingles count but match nothing.
  std::vector<std::uint64_t> query_keys(std::string_view text) const;
};

} // namespace troupe::evolution
