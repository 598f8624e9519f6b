// The llm engine's steps (evolution.md, "Engines"): the reflector, the
// curator and, when configured, a critic ask an OpenAI-compatible model for
// ACE-shaped JSON, validate the answer strictly, ask again with the problem
// named when it is invalid, and fall back to the builtin rule for that step
// after llm.max_retries invalid answers (or when no provider answers at all).
//
// Every call blocks: these functions run on a blocking worker
// (runtime/blocking.hpp), never on CAF's scheduler threads. Tokens and cost
// are tallied by operation for the job's usage records and token_totals.
#pragma once

#include "actors/evolution/pipeline.hpp"
#include "runtime/llm/llm.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace troupe::evolution {

struct llm_engine {
  std::shared_ptr<llm::client> client;
  int max_retries = 3;     // invalid answers tolerated per step, after the first
  int max_concurrency = 4; // reflections asked at once
  int max_tokens = 2048;
  double prompt_price_per_million = 0;
  double completion_price_per_million = 0;
};

// Thread-safe record of a job's model use: an entry per answer (one usage
// record each) and per fallback to the builtin rules. Operations are
// "evolution.reflect", "evolution.curate" and "evolution.critic.<perspective>".
class usage_tally {
public:
  void answered(const std::string& operation, const llm::response& r, double cost_usd,
                bool valid);
  void fell_back(const std::string& operation);
  void merge(const std::vector<llm_usage>& entries);
  std::vector<llm_usage> entries() const; // in the order they happened

private:
  mutable std::mutex mutex_;
  std::vector<llm_usage> entries_;
};

// ---- prompts -----------------------------------------------------------------

llm::request reflector_request(const outcome_record& o, const std::string& playbook_text,
                               int max_tokens);
llm::request curator_request(const std::string& playbook_text,
                             const std::vector<outcome_record>& outcomes,
                             const std::vector<reflection>& reflections,
                             const curation_config& cfg, int max_tokens);
llm::request critic_request(const std::string& perspective, const std::string& playbook_text,
                            const std::vector<operation>& ops, int max_tokens);

// ---- strict validation --------------------------------------------------------
// Each returns the value, or nullopt with `problem` saying what is wrong in
// words the model can act on.

// {reasoning, error_identification, root_cause_analysis, correct_approach,
//  key_insight: strings; bullet_tags: [{id, tag}]} and nothing else; every id
// a bullet of the playbook, at most once; tag helpful | harmful | neutral.
std::optional<reflection> parse_reflection(const std::string& content,
                                           const playbook::document& doc, std::string& problem);

// {reasoning: string, operations: [...]} and nothing else; each operation
// {type, section, content} for ADD, {type, id, content} for UPDATE,
// {type, ids, content} for MERGE (two or more distinct bullets; the oldest
// survives) and {type, id} for DELETE, ids naming bullets of the playbook,
// content and section non-blank; at most 100 operations.
std::optional<std::vector<operation>> parse_curation(const std::string& content,
                                                     const playbook::document& doc,
                                                     std::string& problem);

// {votes: [{operation, score, reason, critical}]}: exactly one vote per
// operation, in order (operation = its index), score in [0, 1], reason
// non-blank, critical a boolean.
std::optional<std::vector<vote>> parse_votes(const std::string& content, std::size_t operations,
                                             std::string& problem);

// ---- the steps ------------------------------------------------------------------

// Steps 2–4: every outcome reflected by the model (max_concurrency at once),
// counters, then the model's curation. Each reflection and the curation fall
// back to the builtin rule on their own.
evolution_plan start_plan_llm(const snapshot_data& snap, const pipeline_config& cfg,
                              const llm_engine& engine, usage_tally& usage);

// One critic perspective's votes from the model, or the builtin rule's.
critic_votes judge_llm(const std::string& perspective, const std::string& playbook_text,
                       const std::vector<operation>& ops, const curation_config& cfg,
                       const llm_engine& engine, usage_tally& usage);

} // namespace troupe::evolution
