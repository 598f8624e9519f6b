// The values of a plan critique (evolution.md, "Critique jobs") that travel
// between the critique executor and the critic actors: plain structs, no
// CAF, so the pure plan rules (actors/critique/plan_critique) include them.
// messages/evolution.hpp makes them messages.
#pragma once

#include <string>
#include <vector>

namespace troupe::critique {

struct plan_step {
  std::string id;
  std::string text;
  std::vector<std::string> depends_on;
};

struct plan {
  std::vector<std::string> goals;
  std::vector<plan_step> steps;
};

// A critic's suggestion.
//  add_step      {text, after (step id or "" for the end)}      — completeness: an unaddressed goal
//  remove_step   {step}                                          — efficiency: a duplicate step
//  parallelize   {step, other}                                   — efficiency: independent consecutive steps
//  reorder       {step, before}                                  — a step placed before one it depends on
//  add_safeguard {step, text}                                    — safety: a risky step without backup/verification
struct feedback_item {
  std::string id;     // "f1", "f2", … in the order found
  std::string critic; // completeness | efficiency | safety
  std::string kind;
  std::string step;   // the step it concerns ("" for add_step at the end)
  std::string other;  // parallelize: the second step; reorder: the step to come before
  std::string text;   // add_step / add_safeguard: the new step's text; otherwise a one-line reason
};

// What a critic actor is asked about a plan: its vote, from its
// perspective, on each item (answered as critic_votes, one per item).
struct plan_review {
  plan p;
  std::vector<feedback_item> items;
};

} // namespace troupe::critique
