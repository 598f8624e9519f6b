// The completeness and efficiency critics, the voter's rule (decide) and the
// facts of a round. The safety critic is in critics_safety.cpp.
#include "actors/evolution/critics.hpp"

#include "actors/evolution/critics_internal.hpp"
#include "actors/evolution/similarity.hpp"
#include "text/ascii.hpp"
#include "text/utf8.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::evolution {

using namespace critics_internal; // the helpers of critics_internal.hpp

namespace {

namespace pb = troupe::playbook;

constexpr std::size_t min_words = 3;        // fewer is a fragment
constexpr double acceptance_slack = 1e-9;   // 0.4·0.5 + 0.3·0.5 + 0.3·0.5 must reach 0.5
constexpr double similarity_slack = 1e-12;  // as similarity_index accepts a score

// ---------------------------------------------------------------- text

using text::is_space;

bool blank(std::string_view s) { return std::all_of(s.begin(), s.end(), is_space); }

// A reason is one line whatever an id or a section name contains.
std::string one_line(std::string s) {
  std::replace_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return s;
}

std::string two_decimals(double x) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.2f", x);
  return buf.data();
}

std::string plural(std::size_t n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

// ---------------------------------------------------------------- operations

bool known_type(const operation& op) { return carries_content(op) || op.type == "DELETE"; }

std::size_t bullets_in(const pb::section& s) {
  return static_cast<std::size_t>(
      std::count_if(s.lines.begin(), s.lines.end(), [](const pb::line& l) { return l.is_bullet; }));
}

std::string section_label(const pb::section& s) {
  return s.name.empty() ? "the preamble" : "section " + s.name;
}

// ---------------------------------------------------------------- efficiency

struct issue {
  std::string reason;
  bool actionable;
};

// The most similar bullet at or above the threshold, the earliest on a tie.
std::optional<issue> near_duplicate_issue(const pb::bullet& b, double score) {
  // revise() reads the id back from this reason.
  return issue{"near-duplicate of " + b.id + " (" + two_decimals(score) +
                   "): should be an UPDATE or MERGE",
               true};
}

std::optional<issue> near_duplicate(const operation& op, const critic_context& ctx) {
  if (op.type != "ADD" || !ctx.doc)
    return std::nullopt;
  if (ctx.facts && ctx.facts->index) {
    // near() lists the best score first, ties in document order.
    auto found = ctx.facts->index->near(op.content);
    if (found.empty())
      return std::nullopt;
    return near_duplicate_issue(ctx.facts->bullets[found.front().index], found.front().score);
  }
  auto mine = shingles(op.content);
  const pb::bullet* best = nullptr;
  double best_score = 0;
  for (const auto& s : ctx.doc->sections)
    for (const auto& l : s.lines) {
      if (!l.is_bullet)
        continue;
      double score = jaccard(mine, shingles(l.b.content));
      if (score >= ctx.cfg.dedup_threshold - similarity_slack && (!best || score > best_score)) {
        best = &l.b;
        best_score = score;
      }
    }
  if (!best)
    return std::nullopt;
  return near_duplicate_issue(*best, best_score);
}

std::optional<issue> over_long(const operation& op, const critic_context& ctx) {
  if (!carries_content(op) || ctx.cfg.max_bullet_chars < 0)
    return std::nullopt;
  std::size_t n = text::code_points(op.content);
  if (n <= static_cast<std::size_t>(ctx.cfg.max_bullet_chars))
    return std::nullopt;
  return issue{"content is " + std::to_string(n) + " chars, over max_bullet_chars " +
                   std::to_string(ctx.cfg.max_bullet_chars),
               true};
}

// Growth is measured by applying the operation to a copy, so it counts
// exactly what apply() would write (new id, new heading, merged lines). Only
// operations that grow the playbook past the budget are blamed.
bool same_section(std::string_view a, std::string_view b) {
  return text::iequals(troupe::text::collapse_whitespace(a), troupe::text::collapse_whitespace(b));
}

// The printed size of the playbook after `op`, from the round's facts: only
// ADD and UPDATE can grow a playbook, and their growth is the bullet line
// (and a new section heading) or the content difference.
std::int64_t bytes_after(const operation& op, const critic_context& ctx) {
  const auto& f = *ctx.facts;
  auto content = static_cast<std::int64_t>(troupe::text::collapse_whitespace(op.content).size());
  if (op.type == "UPDATE") {
    auto found = locate(ctx, op.id);
    return found ? f.bytes + content - static_cast<std::int64_t>(found->bullet->content.size())
                 : f.bytes;
  }
  auto id = pb::make_bullet_id(pb::section_slug(op.section), f.next_id);
  std::int64_t line = static_cast<std::int64_t>(id.size()) + 2 +
                      static_cast<std::int64_t>(std::string_view{" helpful=0 harmful=0 :: "}.size()) +
                      content + 1;
  bool section_exists = false;
  for (const auto& s : ctx.doc->sections)
    section_exists |= !s.name.empty() && same_section(s.name, op.section);
  if (!section_exists)
    line += 3 + static_cast<std::int64_t>(troupe::text::collapse_whitespace(op.section).size()) + 1;
  return f.bytes + line;
}

std::optional<issue> past_budget(const operation& op, const critic_context& ctx) {
  if (!carries_content(op) || !ctx.doc)
    return std::nullopt;
  std::int64_t before, after;
  if (ctx.facts && (op.type == "ADD" || op.type == "UPDATE")) {
    before = (ctx.facts->bytes + 3) / 4;
    after = (bytes_after(op, ctx) + 3) / 4;
  } else {
    before = pb::token_estimate(*ctx.doc);
    auto copy = *ctx.doc;
    auto next = pb::next_id_after(copy);
    apply(copy, {op}, next);
    after = pb::token_estimate(copy);
  }
  if (after <= before || after <= ctx.cfg.token_budget)
    return std::nullopt;
  return issue{"grows the playbook to " + std::to_string(after) + " tokens, past the budget " +
                   std::to_string(ctx.cfg.token_budget),
               false};
}

} // namespace

namespace critics_internal {

vote make_vote(double score, std::string reason, bool critical, bool actionable) {
  return vote{score, one_line(std::move(reason)), critical, actionable};
}

bool carries_content(const operation& op) {
  return op.type == "ADD" || op.type == "UPDATE" || op.type == "MERGE";
}

// The first bullet with `id`, as apply() finds it.
std::optional<located> locate(const critic_context& ctx, std::string_view id) {
  const auto* doc = ctx.doc;
  if (!doc)
    return std::nullopt;
  if (ctx.facts) {
    auto it = ctx.facts->first.find(std::string{id});
    if (it == ctx.facts->first.end())
      return std::nullopt;
    const auto& s = doc->sections[it->second.first];
    return located{&s, &s.lines[it->second.second].b};
  }
  for (const auto& s : doc->sections)
    for (const auto& l : s.lines)
      if (l.is_bullet && l.b.id == id)
        return located{&s, &l.b};
  return std::nullopt;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

} // namespace critics_internal

round_facts::round_facts(const playbook::document& doc, const curation_config& cfg,
                         bool with_index)
    : bullets(pb::bullets(doc)), bytes(static_cast<std::int64_t>(pb::print(doc).size())),
      next_id(pb::next_id_after(doc)) {
  for (std::size_t s = 0; s < doc.sections.size(); ++s)
    for (std::size_t l = 0; l < doc.sections[s].lines.size(); ++l)
      if (const auto& line = doc.sections[s].lines[l]; line.is_bullet)
        first.try_emplace(line.b.id, s, l);
  if (with_index) {
    std::vector<std::string> texts;
    texts.reserve(bullets.size());
    for (const auto& b : bullets)
      texts.push_back(b.content);
    index.emplace(texts, cfg.dedup_threshold);
  }
}

vote completeness_vote(const operation& op, const critic_context& ctx) {
  if (!known_type(op))
    return make_vote(disagree, "unknown operation type " + quoted(op.type));
  if (carries_content(op)) {
    if (blank(op.content))
      return make_vote(disagree, "content is empty");
    if (std::size_t n = word_count(op.content); n < min_words)
      return make_vote(disagree, "content is a fragment (" + plural(n, "word") + ")");
  }
  if (op.type == "DELETE") {
    auto found = locate(ctx, op.id);
    if (!found)
      return make_vote(neutral, op.id + " is not in the playbook");
    std::size_t n = bullets_in(*found->section);
    if (n == 1)
      return make_vote(disagree, "deletes the only bullet of " + section_label(*found->section));
    return make_vote(neutral, section_label(*found->section) + " keeps " +
                                  plural(n - 1, "other bullet"));
  }
  if (op.type == "ADD" && op.failures > 0)
    return make_vote(agree, "backed by " + plural(static_cast<std::size_t>(op.failures),
                                                  "failed or partial outcome"));
  if (op.type == "ADD")
    return make_vote(neutral, "no failure behind it");
  return make_vote(neutral, "keeps what the playbook covers");
}

vote efficiency_vote(const operation& op, const critic_context& ctx) {
  std::vector<issue> issues;
  for (auto check : {near_duplicate, over_long, past_budget})
    if (auto i = check(op, ctx))
      issues.push_back(std::move(*i));
  if (!issues.empty()) {
    std::string reason;
    bool actionable = false;
    for (const auto& i : issues) {
      reason += (reason.empty() ? "" : "; ") + i.reason;
      actionable = actionable || i.actionable;
    }
    return make_vote(disagree, reason, false, actionable);
  }
  if (op.type == "MERGE")
    return make_vote(agree, "merges " + plural(op.ids.size(), "near-duplicate bullet"));
  if (op.type == "DELETE") {
    auto found = locate(ctx, op.id);
    if (found && found->bullet->helpful == 0)
      return make_vote(agree, "removes a bullet that was never helpful");
    if (found)
      return make_vote(neutral, "the bullet was helpful " + std::to_string(found->bullet->helpful) +
                                    " times");
    return make_vote(neutral, op.id + " is not in the playbook");
  }
  return make_vote(neutral, "no duplicate, within the limits");
}

decision decide(const vote& completeness, const vote& efficiency, const vote& safety,
                const voter_config& cfg) {
  decision d;
  d.score = cfg.completeness * completeness.score + cfg.efficiency * efficiency.score +
            cfg.safety * safety.score;
  d.vetoed = cfg.safety_veto && safety.critical && safety.score <= disagree;
  d.accepted = !d.vetoed && d.score >= cfg.threshold - acceptance_slack;
  return d;
}

} // namespace troupe::evolution
