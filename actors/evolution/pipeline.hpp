// The evolution pipeline as pure steps (evolution.md steps 2–9): the actor
// sequences them and asks the critic and voter actors in between; run_builtin
// runs them all in one call (tests, benchmarks). Deterministic: the same
// snapshot and configuration always give the same version.
//
//   start_plan ─► [round: critics vote ─► voter decides ─► conclude_round]* ─► finish
//   reflect, count,     (round_playbook is what        accepted kept,       apply, budget,
//   propose              the critics see)               rejected revised     summary
#pragma once

#include "actors/evolution/reflection.hpp"
#include "actors/evolution/critics.hpp"
#include "messages/evolution_types.hpp"

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace troupe::evolution {

struct pipeline_config {
  curation_config curation;
  voter_config voting;
  int max_rounds = 3;
  double min_improvement = 0.01;
};

struct snapshot_data {
  std::string content;            // the current version ("" for none)
  std::int64_t next_bullet_id = 1; // the playbook's id counter
  std::vector<outcome_record> outcomes;
};

struct evolution_plan {
  playbook::document base;      // the snapshot's version
  playbook::document counted;   // after step 3
  std::vector<reflection> reflections;
  int counter_updates = 0;
  std::vector<operation> pending;  // to be voted on in the next round
  std::vector<operation> accepted; // across rounds, in acceptance order
  nlohmann::json rounds = nlohmann::json::array();
  int round = 0;
  double last_mean = -1;
  std::int64_t next_id = 1;
  // Set by finish():
  std::string new_content;
  bool changed = false;
  std::string diff_summary;
  std::vector<std::string> applied;
  std::string budget_note; // why the budget changed or rejected the result
};

// Steps 2–4: reflect on every outcome, count, and propose operations.
evolution_plan start_plan(const snapshot_data& snap, const pipeline_config& cfg);

// The same with other reflector and curator steps. `reflect_all` reflects
// every outcome against the snapshot's playbook; `propose` sees the counted
// playbook, the reflections and the insights they carry.
using reflect_all_fn = std::function<std::vector<reflection>(
    const std::vector<outcome_record>&, const playbook::document&)>;
using propose_fn = std::function<std::vector<operation>(
    const playbook::document&, const std::vector<reflection>&, const std::vector<insight>&)>;
evolution_plan start_plan(const snapshot_data& snap, const pipeline_config& cfg,
                          const reflect_all_fn& reflect_all, const propose_fn& propose);

// The playbook the critics judge this round: the counted playbook with the
// operations accepted in earlier rounds applied.
std::string round_playbook(const evolution_plan& p);

// Steps 6–7 for one round: records it (proposal, every vote with its reason,
// the mean score, accepted and rejected), keeps the accepted operations, and
// revises the rejected ones that have actionable feedback into the next
// round's proposal. Returns whether another round should run: something is
// pending, fewer than max_rounds ran, and the mean score improved by at
// least min_improvement over the previous round.
bool conclude_round(evolution_plan& p, const critic_votes& completeness,
                    const critic_votes& efficiency, const critic_votes& safety,
                    const vote_result& result, const pipeline_config& cfg);

// Steps 8–9's content: applies the accepted operations, enforces the budget,
// writes the summary.
void finish(evolution_plan& p, const pipeline_config& cfg);

// All of it in one call, with the critics and voter as direct calls.
evolution_plan run_builtin(const snapshot_data& snap, const pipeline_config& cfg);

// The votes of one critic perspective on a round's operations.
critic_votes judge(const std::string& perspective, const std::string& playbook_text,
                   const std::vector<operation>& ops, const curation_config& cfg);

nlohmann::json to_json(const operation& op);

} // namespace troupe::evolution
