// The curator's built-in rules (evolution.md steps 4, 7 and 8): proposing
// delta operations, revising rejected ones, applying accepted ones, and the
// token budget. Pure logic, deterministic: the same input always gives the
// same output.
#pragma once

#include "actors/playbooks/playbook_format.hpp"
#include "messages/evolution_types.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace troupe::evolution {

// An insight extracted by the reflector from one outcome.
struct insight {
  std::string outcome_id;
  std::string outcome; // success | failure | partial
  std::string text;    // as extracted ("Lesson: …", "Never …", a first sentence)
};

// The section an insight belongs in: "Avoid…", "Never…" and first sentences
// of failures go to COMMON MISTAKES TO AVOID, everything else to STRATEGIES
// & INSIGHTS.
std::string section_for(const insight& i);

// The bullet text of an insight: "Lesson:" and "Insight:" labels dropped,
// "Avoid:" becomes "Avoid", whitespace collapsed.
std::string bullet_text(const insight& i);

// Step 4: proposes, in this order, DELETEs (by id), MERGEs (by survivor id),
// UPDATEs (by id) and ADDs (by first supporting outcome):
//  - near-duplicate insights become one ADD with their support count;
//  - an insight near-duplicate to an existing bullet becomes an UPDATE of it
//    when it has more words, and nothing otherwise;
//  - groups of existing near-duplicate bullets become one MERGE, content the
//    longest of them;
//  - bullets with harmful >= helpful + prune_margin and harmful >= 2 are DELETEd.
std::vector<operation> propose(const playbook::document& doc, const std::vector<insight>& insights,
                               const curation_config& cfg);

// Step 7: revises an operation rejected with `feedback` (the critics'
// reasons). An ADD rejected as a near-duplicate of bullet X becomes an UPDATE
// of X; an over-long content is shortened to max_bullet_chars at a word
// boundary (first sentence when that fits). Returns false when nothing
// actionable is left (the operation is dropped).
bool revise(operation& op, const std::vector<std::string>& feedback, const playbook::document& doc,
            const curation_config& cfg);

// Step 9's content: applies accepted operations in order. ADD takes its id
// from `next_id` (section slug + counter); MERGE keeps the first id, sums
// the counters, removes the others; DELETE removes; UPDATE replaces the
// content. Operations naming bullets that no longer exist are skipped.
// Returns a one-line description of each applied operation.
std::vector<std::string> apply(playbook::document& doc, const std::vector<operation>& accepted,
                               std::int64_t& next_id);

// Step 8: when token_estimate(doc) > token_budget: with "prune", removes the
// bullets of lowest utility (helpful − harmful, then the oldest id) until it
// fits, and returns a description of each removal; with "reject", returns
// {"rejected: …"} and the caller keeps the previous content. Returns {} when
// the document fits.
std::vector<std::string> enforce_budget(playbook::document& doc, const curation_config& cfg);

// Words as similarity.hpp counts them (runs of ASCII letters, digits and
// bytes >= 0x80).
std::size_t word_count(std::string_view s);

// "first ten descriptions, then …and N more".
std::string diff_summary(const std::vector<std::string>& applied);

} // namespace troupe::evolution
