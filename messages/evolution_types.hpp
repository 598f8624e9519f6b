// The values the curator, the critics and the voter exchange (evolution.md
// steps 4–7): plain structs, with neither CAF nor pqxx, so the pure rules
// (actors/evolution) can include them. messages/evolution.hpp makes them
// messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace troupe::evolution {

struct curation_config {
  double dedup_threshold = 0.8;  // near-duplicate: similarity >= this
  int prune_margin = 2;          // DELETE when harmful >= helpful + margin and harmful >= 2
  int max_bullet_chars = 400;    // longer content is shortened on revision
  std::int64_t token_budget = 8000;
  std::string budget_policy = "prune"; // prune | reject
};

// A proposed change to the playbook.
struct operation {
  std::string type;             // ADD | UPDATE | MERGE | DELETE
  std::string section;          // ADD: section name
  std::string content;          // ADD, UPDATE, MERGE: the bullet text
  std::string id;               // UPDATE, DELETE: the bullet
  std::vector<std::string> ids; // MERGE: the bullets, survivor (oldest) first
  int support = 0;              // ADD/UPDATE: outcomes backing it
  int failures = 0;             // of those, failed or partial outcomes
  std::vector<std::string> sources; // outcome ids backing it
  std::string revised_from;     // set when a revision produced it: why
};

struct vote {
  double score = 0.5;   // 1.0 agree, 0.5 neutral, 0.0 disagree
  std::string reason;   // one line
  bool critical = false; // a 0.0 safety vote marked critical vetoes
  bool actionable = false; // the curator can revise the operation to answer it
};

// One model answer (calls = 1: one usage record), or one step that fell back
// to the builtin rules (calls = 0, fallbacks = 1), of the llm engine or an
// llm critic.
struct llm_usage {
  std::string operation; // evolution.reflect | evolution.curate | evolution.critic.<perspective>
  std::string model;     // as the provider named it
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double cost_usd = 0;
  int calls = 0;           // 1 for an answer
  int invalid_answers = 0; // 1 when the answer failed validation
  int fallbacks = 0;       // 1 for a fallback
};

struct voter_config {
  double completeness = 0.4;
  double efficiency = 0.3;
  double safety = 0.3;
  double threshold = 0.5; // accepted when score >= threshold (within 1e-9)
  bool safety_veto = true;
};

struct decision {
  double score = 0;
  bool accepted = false;
  bool vetoed = false;
};

// The operations of one round and what the critics may look at: the
// playbook as the operations would find it.
struct critique_request {
  std::string playbook; // ACE text
  std::vector<operation> operations;
  curation_config cfg;
};

// One critic's votes, one per operation, in order, and the model use they
// cost (empty for a builtin critic).
struct critic_votes {
  std::string perspective; // completeness | efficiency | safety
  std::vector<vote> votes;
  std::vector<llm_usage> usage;
};

struct vote_request {
  critic_votes completeness;
  critic_votes efficiency;
  critic_votes safety;
  voter_config cfg;
};

struct vote_result {
  std::vector<decision> decisions; // one per operation, in order
};

} // namespace troupe::evolution
