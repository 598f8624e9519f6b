// The curator's proposals (propose, revise) and how insights read as bullets.
// Applying operations is in curation_apply.cpp, the token budget in
// curation_budget.cpp.
#include "actors/evolution/curation.hpp"

#include "actors/evolution/curation_internal.hpp"
#include "actors/evolution/similarity.hpp"
#include "text/ascii.hpp"

#include <algorithm>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::evolution {

using namespace curation_internal; // the helpers of curation_internal.hpp

namespace {

namespace pb = troupe::playbook;

constexpr std::string_view mistakes_section = "COMMON MISTAKES TO AVOID";

constexpr std::size_t min_sentence_words = 3; // a shorter first sentence is a fragment

// similarity_index only accepts thresholds in (0, 1].
constexpr double min_threshold = 1e-9;

// ---------------------------------------------------------------- text

// ASCII-only, locale-free classification so that results depend on bytes only.
// Bullet content and section names are written with whitespace collapsed.
using text::collapse_whitespace;
using text::iequals;
using text::is_space;
using text::is_word_byte;
using text::istarts_with;
using text::split_whitespace;
using text::to_lower;

// `word` at the start of `s`, not followed by more of the same word
// ("Never" but not "Nevertheless").
bool starts_with_word(std::string_view s, std::string_view word) {
  return istarts_with(s, word) && (s.size() == word.size() || !is_word_byte(s[word.size()]));
}

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The byte length of the first `chars` characters of `s` (all of it when shorter).
std::size_t prefix_bytes(std::string_view s, std::size_t chars) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (is_continuation_byte(s[i]))
      continue;
    if (seen == chars)
      return i;
    ++seen;
  }
  return s.size();
}

// Separators that would leave a cut text dangling ("…check the logs, and").
bool is_dangling(char c) {
  return is_space(c) || c == ',' || c == ';' || c == ':' || c == '-' || c == '(' || c == '[' ||
         c == '{' || c == '/' || c == '&' || c == '"' || c == '\'';
}

} // namespace

namespace curation_internal {

std::string join(const std::vector<std::string_view>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0)
      out += sep;
    out += parts[i];
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  return join(std::vector<std::string_view>(parts.begin(), parts.end()), sep);
}

// Characters are UTF-8 code points (every byte that does not continue one).
std::size_t char_count(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return !is_continuation_byte(c); }));
}

// At most `chars` characters of `s`, cut at the last word boundary when there
// is one, without trailing separators. A single over-long word is cut at a
// character boundary instead.
std::string cut_at_word(std::string_view s, std::size_t chars) {
  std::size_t limit = prefix_bytes(s, chars);
  if (limit >= s.size())
    return std::string(s);
  std::string_view head = s.substr(0, limit);
  if (!is_space(s[limit])) {
    std::size_t space = head.find_last_of(" \t\n\v\f\r");
    if (space != std::string_view::npos && space > 0)
      head = head.substr(0, space);
  }
  std::size_t n = head.size();
  while (n > 0 && is_dangling(head[n - 1]))
    --n;
  if (n == 0) // nothing but separators before the limit
    return std::string(s.substr(0, limit));
  return std::string(head.substr(0, n));
}

// Ids order by age: the counter is global and only grows, so a smaller
// number is an older bullet. Ids without a number sort after all numbered ones.
std::pair<std::int64_t, std::string_view> id_age(std::string_view id) {
  return {pb::id_number(id).value_or(std::numeric_limits<std::int64_t>::max()), id};
}

std::optional<position> find_bullet(const pb::document& doc, std::string_view id) {
  for (std::size_t s = 0; s < doc.sections.size(); ++s) {
    const auto& lines = doc.sections[s].lines;
    for (std::size_t l = 0; l < lines.size(); ++l)
      if (lines[l].is_bullet && lines[l].b.id == id)
        return position{s, l};
  }
  return std::nullopt;
}

} // namespace curation_internal

namespace {

// The text up to and including the first '.', '!' or '?' that ends a
// sentence (followed by whitespace or the end); the whole text when none does.
std::string_view first_sentence(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i)
    if ((s[i] == '.' || s[i] == '!' || s[i] == '?') && (i + 1 == s.size() || is_space(s[i + 1])))
      return s.substr(0, i + 1);
  return s;
}

// ---------------------------------------------------------------- bullets

bool older(std::string_view a, std::string_view b) { return id_age(a) < id_age(b); }

// The first bullet with each id, in document order: like apply_tags() and
// diff(), a repeated id only counts on its first bullet.
std::vector<pb::bullet> unique_bullets(const pb::document& doc) {
  std::vector<pb::bullet> out;
  std::set<std::string> seen;
  for (auto& b : pb::bullets(doc))
    if (seen.insert(b.id).second)
      out.push_back(std::move(b));
  return out;
}

// ---------------------------------------------------------------- proposing

double usable_threshold(double t) {
  if (!(t > min_threshold)) // NaN too
    return min_threshold;
  return std::min(t, 1.0);
}

// "Longest" content: more words, then more bytes; the earlier one on a tie.
bool longer_text(std::string_view a, std::string_view b) {
  return std::pair(word_count(a), a.size()) > std::pair(word_count(b), b.size());
}

// Greedy clustering around seeds taken in order: every member is a
// near-duplicate of its group's first element (so a chain a~b~c with a≁c
// does not collapse into one group). Returns groups of indexes, ascending.
std::vector<std::vector<std::size_t>> cluster(const std::vector<std::string>& texts,
                                              double threshold) {
  similarity_index index(texts, threshold);
  std::vector<bool> taken(texts.size(), false);
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (taken[i])
      continue;
    std::vector<std::size_t> group{i};
    taken[i] = true;
    for (const auto& s : index.near(texts[i]))
      if (!taken[s.index]) {
        taken[s.index] = true;
        group.push_back(s.index);
      }
    std::sort(group.begin(), group.end());
    groups.push_back(std::move(group));
  }
  return groups;
}

bool should_delete(const pb::bullet& b, const curation_config& cfg) {
  return b.harmful >= 2 && b.harmful >= b.helpful + cfg.prune_margin;
}

// A bullet as it will read once the proposed MERGEs are applied.
struct target {
  std::string id;
  std::string content;
};

struct insight_group {
  std::string section;
  std::string content;
  int support = 0;
  int failures = 0;
  std::vector<std::string> sources;
};

void add_sources(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const auto& s : from)
    if (std::find(to.begin(), to.end(), s) == to.end())
      to.push_back(s);
}

// Folds `g` into `into`: the longer content wins, the support adds up.
void absorb(insight_group& into, const insight_group& g) {
  if (longer_text(g.content, into.content)) {
    into.content = g.content;
    into.section = g.section;
  }
  into.support += g.support;
  into.failures += g.failures;
  add_sources(into.sources, g.sources);
}

std::vector<insight_group> group_insights(const std::vector<insight>& insights,
                                          double threshold) {
  std::vector<const insight*> usable;
  std::vector<std::string> texts;
  for (const auto& i : insights) {
    auto text = bullet_text(i);
    if (text.empty())
      continue;
    usable.push_back(&i);
    texts.push_back(std::move(text));
  }
  std::vector<insight_group> out;
  for (const auto& members : cluster(texts, threshold)) {
    insight_group g;
    std::size_t best = members.front();
    for (std::size_t m : members) {
      if (longer_text(texts[m], texts[best]))
        best = m;
      ++g.support;
      g.failures += usable[m]->outcome != "success" ? 1 : 0;
      if (!usable[m]->outcome_id.empty())
        add_sources(g.sources, {usable[m]->outcome_id});
    }
    g.content = texts[best];
    g.section = section_for(*usable[best]);
    out.push_back(std::move(g));
  }
  return out;
}

operation delete_op(const pb::bullet& b) {
  operation op;
  op.type = "DELETE";
  op.id = b.id;
  return op;
}

// MERGEs of the surviving bullets (sorted oldest first); fills `targets` with
// every bullet as it reads after the merges.
std::vector<operation> merge_ops(const std::vector<pb::bullet>& live, double threshold,
                                 std::vector<target>& targets) {
  std::vector<std::string> texts;
  for (const auto& b : live)
    texts.push_back(b.content);
  std::vector<operation> out;
  for (const auto& group : cluster(texts, threshold)) {
    std::size_t longest = group.front();
    for (std::size_t m : group)
      if (texts[m].size() > texts[longest].size())
        longest = m;
    targets.push_back({live[group.front()].id, texts[longest]});
    if (group.size() < 2)
      continue;
    operation op;
    op.type = "MERGE";
    op.content = texts[longest];
    for (std::size_t m : group)
      op.ids.push_back(live[m].id);
    out.push_back(std::move(op));
  }
  return out;
}

operation add_op(const insight_group& g) {
  operation op;
  op.type = "ADD";
  op.section = g.section;
  op.content = g.content;
  op.support = g.support;
  op.failures = g.failures;
  op.sources = g.sources;
  return op;
}

operation update_op(const std::string& id, const insight_group& g) {
  operation op = add_op(g);
  op.type = "UPDATE";
  op.section.clear();
  op.id = id;
  return op;
}

// The id a critic named as the near-duplicate ("near-duplicate of sai-00003
// (0.86)"): the first token of a feedback line mentioning a duplicate that is
// the id of a bullet in `doc`.
std::optional<std::string> duplicate_target(const std::vector<std::string>& feedback,
                                            const pb::document& doc) {
  auto id_byte = [](char c) { return is_word_byte(c) || c == '-' || c == '_'; };
  for (const auto& line : feedback) {
    std::string lower(line);
    std::transform(lower.begin(), lower.end(), lower.begin(), to_lower);
    if (lower.find("duplicate") == std::string::npos)
      continue;
    std::size_t i = 0;
    while (i < line.size()) {
      if (!id_byte(line[i])) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < line.size() && id_byte(line[j]))
        ++j;
      std::string token = line.substr(i, j - i);
      if (find_bullet(doc, token))
        return token;
      i = j;
    }
  }
  return std::nullopt;
}

// Over-long content: the first sentence when it fits and is more than a
// fragment, else a cut at the last word boundary before the limit.
std::string shorten(std::string_view content, std::size_t max_chars) {
  std::string text = collapse_whitespace(content);
  std::string_view sentence = first_sentence(text);
  if (sentence.size() < text.size() && char_count(sentence) <= max_chars &&
      word_count(sentence) >= min_sentence_words)
    return std::string(sentence);
  return cut_at_word(text, max_chars);
}

} // namespace

std::string section_for(const insight& i) {
  std::string text = collapse_whitespace(i.text);
  if (starts_with_word(text, "Avoid") || starts_with_word(text, "Never"))
    return std::string(mistakes_section);
  // A failure's insight without a marker is the first sentence of its notes:
  // what went wrong.
  bool marked = starts_with_word(text, "Lesson") || starts_with_word(text, "Insight") ||
                starts_with_word(text, "Always");
  if (i.outcome != "success" && !marked)
    return std::string(mistakes_section);
  return std::string(strategies_section);
}

std::string bullet_text(const insight& i) {
  // The reflector joins several marked lines with spaces, so labels can
  // appear mid-text; they are matched case-sensitively there (as the
  // reflector matches them) and case-insensitively at the very start.
  std::vector<std::string> kept;
  for (std::string_view token : split_whitespace(i.text)) {
    bool first = kept.empty();
    auto is_label = [&](std::string_view label) {
      return first ? iequals(token, label) : token == label;
    };
    if (is_label("Lesson:") || is_label("Insight:"))
      continue;
    if (is_label("Avoid:"))
      token.remove_suffix(1);
    kept.emplace_back(token);
  }
  return join(kept, " ");
}

std::vector<operation> propose(const playbook::document& doc, const std::vector<insight>& insights,
                               const curation_config& cfg) {
  double threshold = usable_threshold(cfg.dedup_threshold);
  auto all = unique_bullets(doc);
  std::stable_sort(all.begin(), all.end(),
                   [](const pb::bullet& a, const pb::bullet& b) { return older(a.id, b.id); });

  // Bullets about to be deleted neither merge nor receive updates: an
  // operation on them would be skipped once the DELETE has run.
  std::vector<operation> deletes;
  std::vector<pb::bullet> live;
  for (const auto& b : all) {
    if (should_delete(b, cfg))
      deletes.push_back(delete_op(b));
    else
      live.push_back(b);
  }

  std::vector<target> targets;
  auto merges = merge_ops(live, threshold, targets);

  // Insight groups that land on the same bullet become one UPDATE of it;
  // std::map keeps the targets in age order.
  std::map<std::size_t, insight_group> refinements;
  std::vector<operation> adds;
  std::vector<std::string> target_texts;
  for (const auto& t : targets)
    target_texts.push_back(t.content);
  similarity_index near_targets(target_texts, threshold);
  for (const auto& g : group_insights(insights, threshold)) {
    auto found = near_targets.near(g.content);
    if (found.empty()) {
      adds.push_back(add_op(g));
      continue;
    }
    auto [it, fresh] = refinements.try_emplace(found.front().index, g);
    if (!fresh)
      absorb(it->second, g);
  }

  std::vector<operation> updates;
  for (const auto& [index, g] : refinements)
    if (word_count(g.content) > word_count(targets[index].content))
      updates.push_back(update_op(targets[index].id, g));
  // targets follow age order, so updates already do.

  std::vector<operation> out = std::move(deletes);
  for (auto* part : {&merges, &updates, &adds})
    out.insert(out.end(), std::make_move_iterator(part->begin()),
               std::make_move_iterator(part->end()));
  return out;
}

bool revise(operation& op, const std::vector<std::string>& feedback, const playbook::document& doc,
            const curation_config& cfg) {
  if (feedback.empty())
    return false;
  std::vector<std::string> done;
  if (op.type == "ADD") {
    if (auto id = duplicate_target(feedback, doc)) {
      op.type = "UPDATE";
      op.id = *id;
      op.section.clear();
      done.push_back("near-duplicate of " + *id);
    }
  }
  bool has_content = op.type == "ADD" || op.type == "UPDATE" || op.type == "MERGE";
  if (has_content && cfg.max_bullet_chars > 0) {
    auto limit = static_cast<std::size_t>(cfg.max_bullet_chars);
    if (char_count(op.content) > limit) {
      op.content = shorten(op.content, limit);
      done.push_back("shortened to " + std::to_string(char_count(op.content)) + " chars");
    }
  }
  if (done.empty())
    return false;
  op.revised_from = join(done, "; ");
  return true;
}

std::size_t word_count(std::string_view s) {
  std::size_t n = 0;
  bool in_word = false;
  for (char c : s) {
    bool w = is_word_byte(c);
    n += (w && !in_word) ? 1 : 0;
    in_word = w;
  }
  return n;
}

} // namespace troupe::evolution
