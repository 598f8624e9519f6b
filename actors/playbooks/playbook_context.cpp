#include "actors/playbooks/playbook_context.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace troupe::playbook {
namespace {

constexpr double k1 = 1.2;
constexpr double b_weight = 0.75;

bool is_stop_word(std::string_view w) {
  static const std::unordered_set<std::string_view> stop = {
      "a",    "an",   "and",  "are",  "as",   "at",   "be",   "but",  "by",   "for",
      "from", "has",  "have", "how",  "i",    "if",   "in",   "into", "is",   "it",
      "its",  "me",   "my",   "no",   "not",  "of",   "on",   "or",   "our",  "so",
      "that", "the",  "then", "there", "these", "this", "to",  "was",  "we",   "were",
      "what", "when", "which", "while", "who", "will", "with", "you",  "your"};
  return stop.count(w) > 0;
}

bool word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

std::size_t printed_size(const bullet& b) {
  document one;
  one.sections.push_back({"", {line{true, b, {}}}});
  return print(one).size();
}

// The prior of api.md: helpful − harmful, squashed so relevance decides.
double prior_of(const bullet& b) {
  double net = static_cast<double>(b.helpful) - static_cast<double>(b.harmful);
  return 1 + 0.2 * std::tanh(net / 5);
}

} // namespace

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !word_byte(static_cast<unsigned char>(text[i])))
      ++i;
    std::size_t start = i;
    while (i < text.size() && word_byte(static_cast<unsigned char>(text[i])))
      ++i;
    if (i == start)
      continue;
    std::string w{text.substr(start, i - start)};
    for (auto& c : w)
      if (c >= 'A' && c <= 'Z')
        c = static_cast<char>(c - 'A' + 'a');
    if (!is_stop_word(w))
      out.push_back(std::move(w));
  }
  return out;
}

context_index::context_index(const document& doc) {
  std::uint64_t total_length = 0;
  for (const auto& sec : doc.sections) {
    section_names_.push_back(sec.name);
    bytes_ += sec.name.size();
    for (const auto& l : sec.lines) {
      if (!l.is_bullet)
        continue;
      entry e;
      e.section = section_names_.size() - 1;
      e.b = l.b;
      e.printed_bytes = printed_size(l.b);
      e.prior = prior_of(l.b);
      auto ws = words(l.b.content);
      e.length = static_cast<std::uint32_t>(ws.size());
      total_length += ws.size();
      auto index = static_cast<std::uint32_t>(entries_.size());
      std::sort(ws.begin(), ws.end());
      for (std::size_t i = 0; i < ws.size();) {
        std::size_t j = i;
        while (j < ws.size() && ws[j] == ws[i])
          ++j;
        auto& list = postings_[ws[i]];
        if (list.empty())
          bytes_ += ws[i].size() + 64;
        list.push_back({index, static_cast<std::uint32_t>(j - i)});
        bytes_ += sizeof(posting);
        i = j;
      }
      bytes_ += sizeof(entry) + e.b.id.size() + e.b.content.size();
      entries_.push_back(std::move(e));
    }
  }
  if (!entries_.empty())
    average_length_ = static_cast<double>(total_length) / static_cast<double>(entries_.size());
}

std::vector<std::string> distinct_words(std::string_view text) {
  auto terms = words(text);
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  return terms;
}

context_index::weighted_terms context_index::weigh(const std::vector<std::string>& terms,
                                                   const std::vector<std::size_t>& df,
                                                   std::size_t bullets) {
  weighted_terms out;
  double n = static_cast<double>(bullets);
  for (std::size_t i = 0; i < terms.size(); ++i) {
    double d = static_cast<double>(df[i]);
    out.emplace_back(terms[i], std::log(1 + (n - d + 0.5) / (d + 0.5)));
  }
  return out;
}

std::size_t context_index::document_frequency(const std::string& term) const {
  auto it = postings_.find(term);
  return it == postings_.end() ? 0 : it->second.size();
}

std::vector<std::pair<std::uint32_t, double>>
context_index::ranked(const weighted_terms& terms) const {
  std::vector<double> score(entries_.size(), 0.0);
  std::vector<std::uint32_t> touched;
  double avg = average_length_ > 0 ? average_length_ : 1;
  for (const auto& [t, idf] : terms) {
    auto it = postings_.find(t);
    if (it == postings_.end())
      continue;
    for (const auto& p : it->second) {
      double tf = p.count;
      double len = entries_[p.bullet].length;
      if (score[p.bullet] == 0)
        touched.push_back(p.bullet);
      score[p.bullet] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b_weight + b_weight * len / avg));
    }
  }
  std::vector<std::pair<std::uint32_t, double>> out;
  out.reserve(touched.size());
  for (auto i : touched)
    out.emplace_back(i, score[i] * entries_[i].prior);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  return out;
}

context_selection context_index::select(std::string_view task, std::int64_t max_tokens) const {
  context_selection out;
  out.total_bullets = total_bullets();
  auto budget = static_cast<std::size_t>(std::max<std::int64_t>(max_tokens, 0)) * 4;
  std::vector<std::uint32_t> chosen;
  std::vector<bool> opened(section_names_.size(), false);
  std::size_t used = 0;
  auto terms = distinct_words(task);
  std::vector<std::size_t> df;
  for (const auto& t : terms)
    df.push_back(document_frequency(t));
  for (const auto& [i, s] : ranked(weigh(terms, df, entries_.size()))) {
    const auto& e = entries_[i];
    const auto& name = section_names_[e.section];
    std::size_t cost = e.printed_bytes;
    if (!opened[e.section] && !name.empty())
      cost += name.size() + 4; // "## " + name + "\n"
    if (used + cost > budget)
      continue;
    used += cost;
    opened[e.section] = true;
    chosen.push_back(i);
  }
  // Sections in the order of their best bullet, bullets best first.
  document doc;
  std::vector<std::size_t> slot(section_names_.size(), SIZE_MAX);
  for (auto i : chosen) {
    const auto& e = entries_[i];
    if (slot[e.section] == SIZE_MAX) {
      slot[e.section] = doc.sections.size();
      doc.sections.push_back({section_names_[e.section], {}});
    }
    doc.sections[slot[e.section]].lines.push_back(line{true, e.b, {}});
    out.bullet_ids.push_back(e.b.id);
  }
  out.content = print(doc);
  out.token_estimate = token_estimate(doc);
  return out;
}

double context_index::relevance(const weighted_terms& terms) const {
  auto r = ranked(terms);
  double sum = 0;
  for (std::size_t i = 0; i < r.size() && i < 3; ++i)
    sum += r[i].second;
  return sum;
}

std::shared_ptr<const context_index> context_cache::find(const std::string& version_id) {
  std::lock_guard guard{mutex_};
  auto it = slots_.find(version_id);
  if (it == slots_.end())
    return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.index;
}

void context_cache::put(const std::string& version_id,
                        std::shared_ptr<const context_index> index) {
  std::lock_guard guard{mutex_};
  ++builds_;
  if (slots_.count(version_id))
    return; // another thread built it too; keep the first
  bytes_ += index->approximate_bytes();
  lru_.push_front(version_id);
  slots_.emplace(version_id, slot{std::move(index), lru_.begin()});
  // The newest stays even when it alone is over the bound.
  while (bytes_ > max_bytes_ && slots_.size() > 1) {
    auto victim = slots_.find(lru_.back());
    bytes_ -= victim->second.index->approximate_bytes();
    slots_.erase(victim);
    lru_.pop_back();
  }
}

std::size_t context_cache::entries() const {
  std::lock_guard guard{mutex_};
  return slots_.size();
}

std::uint64_t context_cache::builds() const {
  std::lock_guard guard{mutex_};
  return builds_;
}

} // namespace troupe::playbook
