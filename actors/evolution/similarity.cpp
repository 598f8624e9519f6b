#include "actors/evolution/similarity.hpp"

#include "text/ascii.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace troupe::evolution {
namespace {

// The filters are derived from t minus a slack larger than the one used to
// accept a score, so they can never drop a pair that verification would keep:
// t·n in floating point may land just above an integer (0.8·5 > 4).
constexpr double filter_slack = 1e-9;
constexpr double score_slack = 1e-12;

template <typename T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Both callers compute the score with this one expression, so the index and a
// brute-force comparison agree to the last bit.
double ratio(std::size_t common, std::size_t na, std::size_t nb) {
  if (na == 0 || nb == 0)
    return 0.0;
  return static_cast<double>(common) / static_cast<double>(na + nb - common);
}

bool accepted(double score, double threshold) { return score >= threshold - score_slack; }

// Jaccard >= t implies |A ∩ B| >= t·|A ∪ B| >= t·|A|; at least one shared
// shingle is needed for any positive score.
std::size_t min_overlap(std::size_t n, double threshold) {
  double bound = std::ceil((threshold - filter_slack) * static_cast<double>(n));
  auto need = bound > 0.0 ? static_cast<std::size_t>(bound) : std::size_t{0};
  return std::clamp<std::size_t>(need, 1, n);
}

// How many leading shingles (in global order) must be posted or probed; an
// empty set has none and so can never match.
std::size_t prefix_length(std::size_t n, double threshold) {
  return n == 0 ? 0 : n - min_overlap(n, threshold) + 1;
}

// Jaccard <= min/max of the sizes, so sets too different in size cannot reach t.
bool sizes_compatible(std::size_t na, std::size_t nb, double threshold) {
  auto [lo, hi] = std::minmax(na, nb);
  return (threshold - filter_slack) * static_cast<double>(hi) <= static_cast<double>(lo);
}

// Size of the intersection of two ascending rank vectors.
template <typename T>
std::size_t overlap(const std::vector<T>& a, const std::vector<T>& b) {
  std::size_t common = 0;
  auto i = a.begin();
  auto j = b.begin();
  while (i != a.end() && j != b.end()) {
    if (*i < *j) {
      ++i;
    } else if (*j < *i) {
      ++j;
    } else {
      ++common;
      ++i;
      ++j;
    }
  }
  return common;
}

// A shingle as an integer: a word (second half 0) or an ordered pair of
// words (the second word's id + 1). Words hold no spaces, so this is the same
// set as the strings "w1" and "w1 w2" that shingles() lists.
std::uint64_t word_key(std::uint32_t w) { return std::uint64_t{w} << 32; }
std::uint64_t pair_key(std::uint32_t a, std::uint32_t b) {
  return (std::uint64_t{a} << 32) | (std::uint64_t{b} + 1);
}

// The sorted, unique keys of a text whose words were given ids.
std::vector<std::uint64_t> keys_of(const std::vector<std::uint32_t>& ids) {
  std::vector<std::uint64_t> out;
  out.reserve(2 * ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    out.push_back(word_key(ids[i]));
    if (i + 1 < ids.size())
      out.push_back(pair_key(ids[i], ids[i + 1]));
  }
  sort_unique(out);
  return out;
}

void sort_by_score(std::vector<similar>& found) {
  std::sort(found.begin(), found.end(), [](const similar& x, const similar& y) {
    return x.score != y.score ? x.score > y.score : x.index < y.index;
  });
}

} // namespace

std::vector<std::string> shingles(std::string_view text) {
  auto w = troupe::text::words(text, troupe::text::word_bytes::utf8);
  std::vector<std::string> out;
  out.reserve(2 * w.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    out.push_back(w[i]);
    if (i + 1 < w.size())
      out.push_back(w[i] + ' ' + w[i + 1]);
  }
  sort_unique(out);
  return out;
}

double jaccard(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::size_t common = 0;
  auto i = a.begin();
  auto j = b.begin();
  while (i != a.end() && j != b.end()) {
    int c = i->compare(*j);
    if (c < 0) {
      ++i;
    } else if (c > 0) {
      ++j;
    } else {
      ++common;
      ++i;
      ++j;
    }
  }
  return ratio(common, a.size(), b.size());
}

double similarity(std::string_view a, std::string_view b) {
  return jaccard(shingles(a), shingles(b));
}

similarity_index::similarity_index(const std::vector<std::string>& texts, double threshold)
    : threshold_(threshold) {
  // Written so that NaN is rejected too.
  if (!(threshold > 0.0 && threshold <= 1.0))
    throw std::invalid_argument("similarity_index: threshold must be in (0, 1]");

  std::vector<std::vector<std::uint64_t>> sets;
  sets.reserve(texts.size());
  std::unordered_map<std::uint64_t, std::uint32_t> frequency;
  for (const auto& text : texts) {
    std::vector<std::uint32_t> ids;
    for (auto& w : troupe::text::words(text, troupe::text::word_bytes::utf8))
      ids.push_back(words_.try_emplace(std::move(w), static_cast<std::uint32_t>(words_.size()))
                        .first->second);
    sets.push_back(keys_of(ids));
    for (auto k : sets.back())
      ++frequency[k];
  }

  // The global order: rare shingles first (short postings lists), then by key.
  std::vector<std::pair<std::uint32_t, std::uint64_t>> order;
  order.reserve(frequency.size());
  for (const auto& [key, n] : frequency)
    order.emplace_back(n, key);
  std::sort(order.begin(), order.end());
  ranks_.reserve(order.size());
  for (std::size_t r = 0; r < order.size(); ++r)
    ranks_.emplace(order[r].second, static_cast<rank_t>(r));

  sets_.reserve(sets.size());
  for (const auto& set : sets) {
    std::vector<rank_t> ranked;
    ranked.reserve(set.size());
    for (auto k : set)
      ranked.push_back(ranks_.find(k)->second); // every indexed shingle has a rank
    std::sort(ranked.begin(), ranked.end());
    sets_.push_back(std::move(ranked));
  }

  prefix_postings_.resize(order.size());
  for (std::size_t i = 0; i < sets_.size(); ++i) {
    const auto& set = sets_[i];
    for (std::size_t k = 0; k < prefix_length(set.size(), threshold_); ++k)
      prefix_postings_[set[k]].push_back(static_cast<std::uint32_t>(i));
  }
}

std::vector<std::uint64_t> similarity_index::query_keys(std::string_view text) const {
  std::unordered_map<std::string, std::uint32_t> unknown_words;
  std::vector<std::uint32_t> ids;
  for (auto& w : troupe::text::words(text, troupe::text::word_bytes::utf8)) {
    if (auto it = words_.find(w); it != words_.end()) {
      ids.push_back(it->second);
    } else {
      auto fresh = static_cast<std::uint32_t>(words_.size() + unknown_words.size());
      ids.push_back(unknown_words.try_emplace(std::move(w), fresh).first->second);
    }
  }
  return keys_of(ids);
}

std::vector<similar> similarity_index::near(std::string_view text) const {
  auto query = query_keys(text);
  std::vector<rank_t> known;
  std::size_t unknown = 0;
  for (auto k : query) {
    if (auto it = ranks_.find(k); it != ranks_.end())
      known.push_back(it->second);
    else
      ++unknown;
  }
  std::sort(known.begin(), known.end());

  // Unknown shingles have frequency 0, so they lead the query's global order;
  // they have no postings, so only the known part of the prefix is probed.
  std::size_t n = query.size();
  std::size_t prefix = prefix_length(n, threshold_);
  std::vector<std::uint32_t> candidates;
  for (std::size_t k = unknown; k < prefix; ++k) {
    const auto& posted = prefix_postings_[known[k - unknown]];
    candidates.insert(candidates.end(), posted.begin(), posted.end());
  }
  sort_unique(candidates);

  std::vector<similar> found;
  for (std::size_t c : candidates) {
    const auto& other = sets_[c];
    if (!sizes_compatible(n, other.size(), threshold_))
      continue;
    ++comparisons_;
    double score = ratio(overlap(known, other), n, other.size());
    if (accepted(score, threshold_))
      found.push_back({c, score});
  }
  sort_by_score(found);
  return found;
}

std::vector<similar_pair> similarity_index::near_pairs() const {
  std::vector<similar_pair> out;
  // visited[j] == i + 1 once j has been considered as a partner of i, so each
  // candidate is verified once per i without clearing a set every round.
  std::vector<std::size_t> visited(sets_.size(), 0);
  for (std::size_t i = 0; i < sets_.size(); ++i) {
    const auto& set = sets_[i];
    for (std::size_t k = 0; k < prefix_length(set.size(), threshold_); ++k) {
      const auto& posted = prefix_postings_[set[k]];
      // Postings are ascending by text, so partners j > i form a suffix.
      for (auto it = std::upper_bound(posted.begin(), posted.end(), i); it != posted.end(); ++it) {
        std::size_t j = *it;
        if (visited[j] == i + 1)
          continue;
        visited[j] = i + 1;
        if (!sizes_compatible(set.size(), sets_[j].size(), threshold_))
          continue;
        ++comparisons_;
        double score = ratio(overlap(set, sets_[j]), set.size(), sets_[j].size());
        if (accepted(score, threshold_))
          out.push_back({i, j, score});
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const similar_pair& x, const similar_pair& y) {
    return x.a != y.a ? x.a < y.a : x.b < y.b;
  });
  return out;
}

} // namespace troupe::evolution
