// Iterative self-critique of a plan. The rules, as decided here:
//
// Text
//   Matching is evolution's (actors/evolution/unsafe_content.hpp): on the
//   text lower-cased with each whitespace run made one space, a phrase
//   matches where it starts a word (not preceded by a letter, digit or '_')
//   and, unless it is a stem, ends one (not followed by a letter, digit, '_'
//   or '-'): "drop" matches "Drop the table" and "pre-drop", not "dropped"
//   or "drop-in". The phrase lists below are the plan critics' own.
//   risky(text)     = the text contains a risky phrase (whole words only):
//                     delete, drop, deploy, migrate, overwrite, transfer,
//                     shutdown, shut down, remove, truncate, wipe, destroy,
//                     purge, rm -rf, rm -fr, force push, force-push.
//   safeguard(text) = the text contains a safeguard phrase (backup, back up,
//                     backed up, snapshot, verif…, dry run, dry-run, test…,
//                     rollback, roll back, restor…, revert…, confirm…) that
//                     comes before every risky phrase in it. So "Back up the
//                     db, then drop it" is a safeguard (and covers itself),
//                     while "Delete old backups" is not.
//   undo phrases    = rollback, roll back, restor…, revert… (mentioned anywhere).
//
// Completeness critic
//   Significant words: lower-cased runs of ASCII letters and digits of 4+
//   characters, minus a small stop list. A goal is addressed when some step
//   shares at least min(2, n) of the goal's n significant words; a goal with
//   no significant word counts as addressed (there is nothing to look for).
//   Word overlap rather than similarity() because steps are short and goals
//   wordy: "Migrate database" vs "Migrate the user database to Postgres" has
//   Jaccard 0.17 but clearly addresses it. No stemming ("migration" is not
//   "migrate").
//   An unaddressed goal → add_step {step: "" (the end), text: "Address the
//   goal: <goal>"}; that text always addresses its goal, so it converges. A
//   goal already addressed by an add_step proposed earlier in the same round
//   (a repeated goal) gets none.
//
// Efficiency critic
//   Duplicates: step j duplicates an earlier step i still kept when
//   similarity(text_i, text_j) >= duplicate_threshold (within 1e-12, as
//   similarity_index accepts) → remove_step {step: j}, unless another step
//   depends on j (then j is kept and not proposed).
//   Parallelize: consecutive steps a, b where b declares depends_on
//   (non-empty), neither depends on the other (transitively), and neither is
//   risky → parallelize {step: a, other: b}. The plan format has no parallel
//   marker, so an accepted parallelize is recorded in the round and leaves the
//   plan unchanged; run() never proposes an accepted pair (by ids) again.
//
// Safety critic
//   Reorder: a step s depending on a step d placed after it → reorder {step:
//   s, other: d}; applying moves d right before s. Not proposed when d depends
//   (transitively) on s: a cycle cannot be fixed by moving. A dependency on an
//   id not in the plan is ignored.
//   Safeguards: a risky step is covered when it is a safeguard itself, an
//   earlier step is a safeguard, or a later step mentions an undo phrase.
//   Uncovered → add_safeguard {step, text: "Back up and verify before: <step
//   text>"}; applying inserts that step right before and appends its id to the
//   risky step's depends_on. The new text leads with "Back up", so it is a
//   safeguard even though it quotes the risky words.
//
// Items are numbered f1, f2, … in the order found: completeness, efficiency
// (duplicates, then parallelize), safety (reorders, then safeguards), each in
// plan order. Every critic votes on every item (vote_table below), decide()
// scores and applies the threshold and the safety veto.
//
// Applying accepted items, the iterations and convergence are in
// plan_critique_run.cpp.
#include "actors/critique/plan_critique.hpp"

#include "actors/critique/plan_critique_internal.hpp"
#include "actors/evolution/similarity.hpp"
#include "actors/evolution/unsafe_content.hpp"
#include "text/ascii.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::critique {

using namespace plan_critique_internal; // the helpers of plan_critique_internal.hpp

namespace {

using evolution::vote;

constexpr double agree = 1.0;
constexpr double neutral = 0.5;
constexpr double disagree = 0.0;

constexpr double similarity_slack = 1e-12;     // as similarity_index accepts a score
constexpr std::size_t significant_chars = 4;   // shorter words do not count
constexpr std::size_t shared_words_needed = 2; // or all of a goal's, when it has fewer

constexpr std::string_view add_step_prefix = "Address the goal: ";
constexpr std::string_view safeguard_prefix = "Back up and verify before: ";

// ---------------------------------------------------------------- text

using text::is_alnum;

using evolution::normalized;
using evolution::phrase;

constexpr auto risky_phrases = std::to_array<phrase>({
    {"delete", false},   {"drop", false},     {"deploy", false},    {"migrate", false},
    {"overwrite", false}, {"transfer", false}, {"shutdown", false},  {"shut down", false},
    {"remove", false},   {"truncate", false}, {"wipe", false},      {"destroy", false},
    {"purge", false},    {"rm -rf", false},   {"rm -fr", false},    {"force push", false},
    {"force-push", false},
});

constexpr auto safeguard_phrases = std::to_array<phrase>({
    {"backup", true},   {"back up", true},  {"backed up", true}, {"snapshot", true},
    {"verif", true},    {"dry run", true},  {"dry-run", true},   {"test", true},
    {"rollback", true}, {"roll back", true}, {"restor", true},   {"revert", true},
    {"confirm", true},
});

constexpr auto undo_phrases = std::to_array<phrase>({
    {"rollback", true},
    {"roll back", true},
    {"restor", true},
    {"revert", true},
});

// The earliest position in normalized `s` where a phrase of `list` matches.
std::optional<std::size_t> first_match(std::string_view s, std::span<const phrase> list) {
  auto m = evolution::first_phrase(s, list);
  return m ? std::optional<std::size_t>{m->at} : std::nullopt;
}

bool mentions_undo(const std::string& text) {
  return first_match(normalized(text), undo_phrases).has_value();
}

// A step whose loss would weaken the plan's safety.
bool protective(const std::string& text) { return safeguard(text) || mentions_undo(text); }

constexpr auto stop_words = std::to_array<std::string_view>({
    "about", "above",  "address", "after", "again",  "also",   "before", "being",  "below",
    "both",  "could",  "does",    "done",  "each",   "from",   "goal",   "goals",  "have",
    "into",  "just",   "like",    "make",  "more",   "most",   "must",   "only",   "other",
    "over",  "same",   "should",  "some",  "step",   "steps",  "such",   "than",   "that",
    "their", "them",   "then",    "there", "these",  "they",   "this",   "those",  "under",
    "until", "very",   "what",    "when",  "where",  "which",  "with",
});

// Sorted, unique significant words of `text`.
std::vector<std::string> significant_words(std::string_view text) {
  std::vector<std::string> out;
  for (auto& w : troupe::text::words(text, troupe::text::word_bytes::ascii))
    if (w.size() >= significant_chars &&
        std::find(stop_words.begin(), stop_words.end(), w) == stop_words.end())
      out.push_back(std::move(w));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool addresses(const std::string& step_text, const std::vector<std::string>& goal_words) {
  if (goal_words.empty())
    return true;
  auto mine = significant_words(step_text);
  std::size_t shared = 0;
  for (const auto& w : goal_words)
    shared += std::binary_search(mine.begin(), mine.end(), w) ? 1 : 0;
  return shared >= std::min(shared_words_needed, goal_words.size());
}

// The goals no step addresses, skipping the step at `skip` (npos: none).
std::vector<std::string> unaddressed_goals(const plan& p, std::size_t skip = std::string::npos) {
  std::vector<std::string> out;
  for (const auto& g : p.goals) {
    auto words = significant_words(g);
    bool found = false;
    for (std::size_t i = 0; i < p.steps.size() && !found; ++i)
      found = i != skip && addresses(p.steps[i].text, words);
    if (!found)
      out.push_back(g);
  }
  return out;
}

std::string two_decimals(double x) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.2f", x);
  return buf.data();
}

} // namespace

// ---------------------------------------------------------------- plans

std::optional<std::size_t> plan_critique_internal::index_of(const plan& p, std::string_view id) {
  for (std::size_t i = 0; i < p.steps.size(); ++i)
    if (p.steps[i].id == id)
      return i;
  return std::nullopt;
}

namespace {

bool depended_on(const plan& p, std::size_t j) {
  for (std::size_t k = 0; k < p.steps.size(); ++k)
    if (k != j && std::count(p.steps[k].depends_on.begin(), p.steps[k].depends_on.end(),
                             p.steps[j].id) > 0)
      return true;
  return false;
}

// Whether the step at `from` depends on `target`, directly or through others.
bool depends_transitively(const plan& p, std::size_t from, std::string_view target) {
  std::vector<bool> seen(p.steps.size(), false);
  std::vector<std::size_t> todo{from};
  seen[from] = true;
  while (!todo.empty()) {
    auto i = todo.back();
    todo.pop_back();
    for (const auto& d : p.steps[i].depends_on) {
      if (d == target)
        return true;
      if (auto j = index_of(p, d); j && !seen[*j]) {
        seen[*j] = true;
        todo.push_back(*j);
      }
    }
  }
  return false;
}

// ---------------------------------------------------------------- critics

feedback_item item(std::string critic, std::string kind, std::string step, std::string other,
                   std::string text) {
  return feedback_item{"", std::move(critic), std::move(kind), std::move(step), std::move(other),
                       std::move(text)};
}

void completeness_critic(const plan& p, std::vector<feedback_item>& out) {
  std::vector<std::string> proposed;
  for (const auto& g : unaddressed_goals(p)) {
    auto words = significant_words(g);
    if (std::any_of(proposed.begin(), proposed.end(),
                    [&](const std::string& t) { return addresses(t, words); }))
      continue;
    auto text = std::string(add_step_prefix) + troupe::text::collapse_whitespace(g);
    proposed.push_back(text);
    out.push_back(item("completeness", "add_step", "", "", std::move(text)));
  }
}

void efficiency_critic(const plan& p, const critique_config& cfg,
                       std::vector<feedback_item>& out) {
  const auto& steps = p.steps;
  std::vector<std::vector<std::string>> sets;
  for (const auto& s : steps)
    sets.push_back(evolution::shingles(s.text));
  std::vector<bool> removed(steps.size(), false);
  for (std::size_t j = 1; j < steps.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      if (removed[i])
        continue;
      double score = evolution::jaccard(sets[i], sets[j]);
      if (sets[i].empty() || sets[j].empty() || score < cfg.duplicate_threshold - similarity_slack)
        continue;
      if (!depended_on(p, j)) {
        removed[j] = true;
        out.push_back(item("efficiency", "remove_step", steps[j].id, "",
                           steps[j].id + " duplicates " + steps[i].id + " (similarity " +
                               two_decimals(score) + ")"));
      }
      break;
    }
  }
  for (std::size_t i = 0; i + 1 < steps.size(); ++i) {
    const auto &a = steps[i], &b = steps[i + 1];
    if (b.depends_on.empty() || risky(a.text) || risky(b.text) ||
        depends_transitively(p, i + 1, a.id) || depends_transitively(p, i, b.id))
      continue;
    out.push_back(item("efficiency", "parallelize", a.id, b.id,
                       a.id + " and " + b.id + " do not depend on each other"));
  }
}

void safety_critic(const plan& p, std::vector<feedback_item>& out) {
  const auto& steps = p.steps;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    std::set<std::string> seen;
    for (const auto& d : steps[i].depends_on) {
      if (!seen.insert(d).second)
        continue;
      auto j = index_of(p, d);
      if (!j || *j <= i || depends_transitively(p, *j, steps[i].id))
        continue;
      out.push_back(item("safety", "reorder", steps[i].id, d,
                         steps[i].id + " depends on " + d + ", which comes after it"));
    }
  }
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto& text = steps[i].text;
    if (!risky(text) || safeguard(text))
      continue;
    bool before = std::any_of(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(i),
                              [](const plan_step& s) { return safeguard(s.text); });
    bool after = std::any_of(steps.begin() + static_cast<std::ptrdiff_t>(i) + 1, steps.end(),
                             [](const plan_step& s) { return mentions_undo(s.text); });
    if (before || after)
      continue;
    out.push_back(item("safety", "add_safeguard", steps[i].id, "",
                       std::string(safeguard_prefix) + troupe::text::collapse_whitespace(text)));
  }
}

// ---------------------------------------------------------------- votes

vote make_vote(double score, std::string reason, bool critical = false) {
  return vote{score, std::move(reason), critical, false};
}

// The base votes per kind, before the item-specific overrides in vote_on():
//   kind           completeness  efficiency  safety
//   add_step       1.0           0.5         0.5  (0.0 critical: the new step is unsafe content
//                                                  (evolution::unsafe_content, the detector the
//                                                  evolution safety critic uses), or risky and
//                                                  uncovered)
//   remove_step    1.0           1.0         0.5  (completeness 0.0 when a goal loses its only
//                                                  step; safety 0.0 critical when the step is a
//                                                  safeguard or mentions an undo)
//   reorder        0.5           0.5         1.0
//   parallelize    0.5           1.0         0.5  (0.0 critical when either step is risky)
//   add_safeguard  0.5           0.5         1.0
struct vote_row {
  std::string_view kind;
  double completeness;
  std::string_view completeness_reason;
  double efficiency;
  std::string_view efficiency_reason;
  double safety;
  std::string_view safety_reason;
};

constexpr auto vote_table = std::to_array<vote_row>({
    {"add_step", agree, "covers an unaddressed goal", neutral, "adds one step", neutral,
     "no safety concern"},
    {"remove_step", agree, "goal coverage unchanged without it", agree, "removes a duplicate step",
     neutral, "no safety concern"},
    {"reorder", neutral, "same steps", neutral, "same steps", agree,
     "dependencies respected: the dependency comes first"},
    {"parallelize", neutral, "same steps", agree, "independent steps can run in parallel", neutral,
     "no risky step involved"},
    {"add_safeguard", neutral, "same goals covered", neutral, "adds one step", agree,
     "protects a risky step with backup and verification"},
});

// Whether a risky step placed right after position `after_index` (none: at
// the end) would be covered by the plan around it.
bool covered_after(const plan& p, std::optional<std::size_t> after_index) {
  std::size_t split = after_index ? *after_index + 1 : p.steps.size();
  for (std::size_t i = 0; i < p.steps.size(); ++i)
    if (i < split ? safeguard(p.steps[i].text) : mentions_undo(p.steps[i].text))
      return true;
  return false;
}

} // namespace

bool risky(const std::string& text) {
  return first_match(normalized(text), risky_phrases).has_value();
}

bool safeguard(const std::string& text) {
  auto t = normalized(text);
  auto guard = first_match(t, safeguard_phrases);
  if (!guard)
    return false;
  auto danger = first_match(t, risky_phrases);
  return !danger || *guard < *danger;
}

std::vector<feedback_item> find_feedback(const plan& p, const critique_config& cfg) {
  std::vector<feedback_item> out;
  completeness_critic(p, out);
  efficiency_critic(p, cfg, out);
  safety_critic(p, out);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i].id = "f" + std::to_string(i + 1);
  return out;
}

votes vote_on(const feedback_item& it, const plan& p) {
  auto row = std::find_if(vote_table.begin(), vote_table.end(),
                          [&](const vote_row& r) { return r.kind == it.kind; });
  if (row == vote_table.end()) {
    auto v = make_vote(disagree, "unknown feedback kind \"" + troupe::text::collapse_whitespace(it.kind) + "\"");
    return {v, v, v};
  }
  votes out{make_vote(row->completeness, std::string(row->completeness_reason)),
            make_vote(row->efficiency, std::string(row->efficiency_reason)),
            make_vote(row->safety, std::string(row->safety_reason))};

  if (it.kind == "add_step") {
    std::optional<std::size_t> after;
    if (!it.step.empty())
      after = index_of(p, it.step);
    if (auto why = evolution::unsafe_content(it.text))
      out.safety = make_vote(disagree, "adds unsafe content: " + *why, true);
    else if (risky(it.text) && !safeguard(it.text) && !covered_after(p, after))
      out.safety = make_vote(disagree, "adds a risky step with no safeguard before it", true);
  } else if (it.kind == "remove_step") {
    auto j = index_of(p, it.step);
    if (!j) {
      out.completeness = make_vote(neutral, it.step + " is not in the plan");
      out.efficiency = make_vote(neutral, it.step + " is not in the plan");
    } else {
      auto before = unaddressed_goals(p).size();
      auto lost = unaddressed_goals(p, *j);
      if (lost.size() > before)
        out.completeness = make_vote(disagree, "no other step addresses a goal it covers");
      if (protective(p.steps[*j].text))
        out.safety = make_vote(disagree, "removes a safeguard step", true);
    }
  } else if (it.kind == "parallelize") {
    for (const auto& id : {it.step, it.other})
      if (auto i = index_of(p, id); i && risky(p.steps[*i].text)) {
        out.safety = make_vote(disagree, "would run risky step " + id + " in parallel", true);
        break;
      }
  }
  return out;
}

} // namespace troupe::critique
