// The reflector's built-in rules (evolution.md steps 2 and 3): which bullets
// an outcome used, how each is tagged, what insight the outcome carries, and
// the counters that follow. Pure logic, deterministic.
#pragma once

#include "actors/playbooks/playbook_format.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <unordered_set>
#include <vector>

namespace troupe::evolution {

struct outcome_record {
  std::string id;
  std::string outcome; // success | failure | partial
  std::string notes;
  std::string reasoning_trace;
  std::vector<std::string> bullet_ids;
  std::string task_description;
};

struct bullet_tag {
  std::string id;
  std::string tag; // helpful | harmful | neutral
};

struct reflection {
  std::vector<bullet_tag> bullet_tags; // bullets of the playbook the outcome used
  std::vector<std::string> unknown_ids; // named but not in the playbook
  std::string insight;                  // empty when the outcome carries none
  std::string source;                   // "bullet_ids", "reasoning_trace" or "llm"
  nlohmann::json detail;                // the model's whole answer (llm engine), else null
};

// The tag an outcome gives the bullets it used.
std::string tag_for(const std::string& outcome);

// Bullet-id-looking tokens ("sai-00001") in free text, in order, without repeats.
std::vector<std::string> ids_in_text(const std::string& text);

// The insight: lines starting with "Lesson:", "Insight:", "Avoid:", "Always"
// or "Never" in the notes, then the reasoning trace (joined with " "), or else
// the first sentence of the notes of a failed or partial outcome.
std::string extract_insight(const outcome_record& o);

// The ids of a playbook's bullets: what reflect() checks the used ids against.
using known_ids = std::unordered_set<std::string>;
known_ids bullet_ids_of(const playbook::document& doc);

reflection reflect(const outcome_record& o, const known_ids& known);
// The same, for one outcome (reflecting many, take the ids once).
reflection reflect(const outcome_record& o, const playbook::document& doc);

nlohmann::json to_json(const reflection& r);

// Applies helpful/harmful tags to the bullets' counters. Returns the number
// of counter increments made.
int apply_tags(playbook::document& doc, const std::vector<reflection>& reflections);

} // namespace troupe::evolution
