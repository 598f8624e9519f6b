// Iterative self-critique of a plan (evolution.md, "Critique jobs"): the
// built-in plan critics, the same voting rule as evolution, refinement and
// convergence. Pure logic, deterministic.
//
//   plan v1 ─► critics find feedback items ─► every critic votes on every item
//          ─► decide() (weights, threshold, veto) ─► accepted items applied ─► plan v2 …
//   stop: no feedback (no_actionable_feedback) | max_iterations | the mean
//   score improved by less than min_improvement (no_improvement)
#pragma once

#include "actors/evolution/critics.hpp"
#include "messages/critique_types.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace troupe::critique {

struct votes {
  evolution::vote completeness, efficiency, safety;
};

struct critique_config {
  evolution::voter_config voting; // weights, threshold (default 0.5), veto
  int max_iterations = 3;
  double min_improvement = 0.01;
  double duplicate_threshold = 0.8; // duplicate steps: similarity >= this
};

// The feedback of all three critics on a plan, completeness first.
std::vector<feedback_item> find_feedback(const plan& p, const critique_config& cfg);

// Every critic's vote on one item.
votes vote_on(const feedback_item& item, const plan& p);

// Applies accepted items in order; new steps get fresh ids ("s<n>", n past
// the largest numeric suffix in use). A safeguard step is inserted right
// before its step, which then depends on it.
plan apply_feedback(const plan& p, const std::vector<feedback_item>& accepted);

struct iteration {
  int number = 0;
  plan before;
  nlohmann::json feedback; // [{id, critic, text, kind, step, votes:{…}, score, accepted}]
  double aggregated_score = 0;
};

struct critique_result {
  std::vector<iteration> iterations;
  plan final_plan;
  std::string converged_because; // no_actionable_feedback | max_iterations | no_improvement
};

// A critique in steps, so that the critique actor can ask the voter actor
// between them:
//   start_run ─► [next_iteration (the critics' finders propose items) ─►
//                 the three critics vote (vote_on, each its perspective) ─► voter ─►
//                 conclude_iteration (record, apply, convergence)]* ─► finish_run
struct critique_run {
  plan current;
  std::set<std::pair<std::string, std::string>> parallel; // accepted parallelize pairs
  std::optional<double> last_mean;
  std::vector<feedback_item> items; // the iteration being voted on
  std::vector<votes> item_votes;    // every critic's vote on each item
  critique_result result;           // iterations so far
  std::string converged_because;    // set when the critique is over
};

// A dependency cycle among the steps, as the ids along it with the first
// repeated at the end ("s1", "s2", "s1"; a step that depends on itself is
// "s1", "s1"), or nothing when the steps form a DAG. Dependencies on unknown
// ids are ignored (the request reader refuses them first).
std::optional<std::vector<std::string>> dependency_cycle(const std::vector<plan_step>& steps);

critique_run start_run(const plan& p);
// Starts the next iteration: true when it has items to decide (run.items,
// to be voted on into run.item_votes); false when the critique is over.
bool next_iteration(critique_run& run, const critique_config& cfg);
// Records the iteration with the voter's decisions (one per item), applies
// the accepted items and decides whether another iteration runs.
void conclude_iteration(critique_run& run, const std::vector<evolution::decision>& decisions,
                        const critique_config& cfg);
critique_result finish_run(critique_run& run);

// All of it, with the voting rule called directly.
critique_result run(const plan& p, const critique_config& cfg);

nlohmann::json to_json(const plan& p);
// The plan of to_json(p) (a critique job's payload); throws on another shape.
plan plan_from_json(const nlohmann::json& j);
nlohmann::json to_json(const iteration& it);

// Words that make a step risky, and words that make a step a safeguard.
bool risky(const std::string& text);
bool safeguard(const std::string& text);

} // namespace troupe::critique
