// Task-relevant context: the bullets of one playbook version that matter for
// a task, ranked, cut to a token budget and printed in the ACE format
// (api.md, GET /v1/playbooks/{id}/context; docs/context.md). Pure logic: no
// actor, no database; the playbooks actor keeps one index per version in a
// context_cache.
//
// Relevance is Okapi BM25 (k1 = 1.2, b = 0.75) of the task's words over each
// bullet's words, times a prior from the bullet's counters:
//
//   score(b) = bm25(task, b) × (1 + 0.2 × tanh((helpful − harmful) / 5))
//
// so a bullet agents found helpful ranks up to 20 % higher than the same text
// without votes, a harmful one up to 20 % lower, and relevance still decides.
// Words are runs of ASCII letters and digits, lower-cased, plus any bytes of
// UTF-8 sequences (so non-Latin text is matched word for word); a short list
// of English stop words is dropped. A bullet sharing no word with the task is
// left out. Ties keep document order. Everything is deterministic: the same
// version, task and budget give the same bytes.
#pragma once

#include "actors/playbooks/playbook_format.hpp"

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace troupe::playbook {

// The words of `text` as the index counts them.
std::vector<std::string> words(std::string_view text);

// The same, each once, sorted.
std::vector<std::string> distinct_words(std::string_view text);

struct context_selection {
  std::string content;                 // ACE text: sections ordered by their best bullet
  std::vector<std::string> bullet_ids; // the chosen bullets, best first
  std::int64_t token_estimate = 0;     // of `content`, as token_estimate() counts
  std::int64_t total_bullets = 0;      // in the version
};

class context_index {
public:
  explicit context_index(const document& doc);

  // The best bullets for `task` whose printed text fits `max_tokens`: in
  // rank order, each bullet that still fits is taken (a long one that does
  // not is skipped for shorter ones after it).
  context_selection select(std::string_view task, std::int64_t max_tokens) const;

  // A task's distinct words with their inverse document frequency.
  using weighted_terms = std::vector<std::pair<std::string, double>>;

  // The idf of each of `terms` (distinct) over a collection of `bullets`
  // bullets of which `df[i]` contain term i.
  static weighted_terms weigh(const std::vector<std::string>& terms,
                              const std::vector<std::size_t>& df, std::size_t bullets);

  // How many of this version's bullets contain `term`.
  std::size_t document_frequency(const std::string& term) const;

  // How well the version as a whole matches the task: the sum of its three
  // best bullet scores, with the idf given (find_playbook weighs the words
  // over all the candidates' bullets, so scores compare across playbooks).
  double relevance(const weighted_terms& terms) const;

  std::int64_t total_bullets() const { return static_cast<std::int64_t>(entries_.size()); }
  std::size_t approximate_bytes() const { return bytes_; }

private:
  struct entry {
    std::size_t section = 0;
    bullet b;
    std::size_t printed_bytes = 0; // its line in print(), newline included
    double prior = 1;
    std::uint32_t length = 0;      // words
  };
  struct posting {
    std::uint32_t bullet;
    std::uint32_t count;
  };

  // (bullet, score) of every bullet sharing a word with `task`, best first.
  std::vector<std::pair<std::uint32_t, double>> ranked(const weighted_terms& terms) const;

  std::vector<std::string> section_names_;
  std::vector<entry> entries_;
  std::unordered_map<std::string, std::vector<posting>> postings_;
  double average_length_ = 0;
  std::size_t bytes_ = 0;
};

// Indexes of immutable versions, by version id, shared by the store's
// threads. Bounded by the indexes' approximate size; the least recently used
// goes first.
class context_cache {
public:
  explicit context_cache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  std::shared_ptr<const context_index> find(const std::string& version_id);
  void put(const std::string& version_id, std::shared_ptr<const context_index> index);

  std::size_t entries() const;
  std::uint64_t builds() const; // indexes put so far (the tests count rebuilds)

private:
  struct slot {
    std::shared_ptr<const context_index> index;
    std::list<std::string>::iterator lru;
  };
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::uint64_t builds_ = 0;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, slot> slots_;
  std::list<std::string> lru_; // most recent first
};

} // namespace troupe::playbook
