#include "actors/evolution/similarity.hpp"

#include "text/ascii.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
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
std::size_t overlap(const std::vector<std::size_t>& a, const std::vector<std::size_t>& b) {
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

// Distinct shingles of all sets, bytewise, each with the number of sets holding it.
std::vector<std::pair<std::string, std::size_t>>
document_frequencies(const std::vector<std::vector<std::string>>& sets) {
  std::vector<std::string> all;
  for (const auto& set : sets)
    all.insert(all.end(), set.begin(), set.end());
  std::sort(all.begin(), all.end());
  std::vector<std::pair<std::string, std::size_t>> out;
  for (auto& s : all) {
    if (!out.empty() && out.back().first == s)
      ++out.back().second;
    else
      out.emplace_back(std::move(s), 1);
  }
  return out;
}

// Replaces each frequency by the shingle's rank in the global order: rare
// shingles first (they make short postings lists), ties bytewise. The input is
// bytewise already, so a stable sort by frequency gives exactly that order.
void frequencies_to_ranks(std::vector<std::pair<std::string, std::size_t>>& table) {
  std::vector<std::size_t> order(table.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return table[x].second < table[y].second; });
  for (std::size_t r = 0; r < order.size(); ++r)
    table[order[r]].second = r;
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

  std::vector<std::vector<std::string>> sets;
  sets.reserve(texts.size());
  for (const auto& text : texts)
    sets.push_back(shingles(text));

  ranks_ = document_frequencies(sets);
  frequencies_to_ranks(ranks_);

  sets_.reserve(sets.size());
  for (const auto& set : sets) {
    std::vector<std::size_t> ranked;
    ranked.reserve(set.size());
    for (const auto& s : set)
      ranked.push_back(*rank(s)); // every indexed shingle has a rank
    std::sort(ranked.begin(), ranked.end());
    sets_.push_back(std::move(ranked));
  }

  prefix_postings_.resize(ranks_.size());
  for (std::size_t i = 0; i < sets_.size(); ++i) {
    const auto& set = sets_[i];
    for (std::size_t k = 0; k < prefix_length(set.size(), threshold_); ++k)
      prefix_postings_[set[k]].push_back(i);
  }
}

const std::size_t* similarity_index::rank(const std::string& shingle) const {
  auto it = std::lower_bound(ranks_.begin(), ranks_.end(), shingle,
                             [](const auto& entry, const std::string& s) { return entry.first < s; });
  return it != ranks_.end() && it->first == shingle ? &it->second : nullptr;
}

std::vector<similar> similarity_index::near(std::string_view text) const {
  auto query = shingles(text);
  std::vector<std::size_t> known;
  std::size_t unknown = 0;
  for (const auto& s : query) {
    if (const auto* r = rank(s))
      known.push_back(*r);
    else
      ++unknown;
  }
  std::sort(known.begin(), known.end());

  // Unknown shingles have frequency 0, so they lead the query's global order;
  // they have no postings, so only the known part of the prefix is probed.
  std::size_t n = query.size();
  std::size_t prefix = prefix_length(n, threshold_);
  std::vector<std::size_t> candidates;
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
