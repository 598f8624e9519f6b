// Pure rules of outcome ingestion: validating one outcome, assembling a
// group-commit batch, and deciding what each outcome of a batch reports about
// evolution. No actor, no database.
#pragma once

#include "config/settings.hpp"
#include "messages/api_types.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace troupe::ingestion {

struct outcome_input {
  std::string playbook_id;
  std::string user_id;
  std::string task_description;
  std::string outcome; // success | failure | partial
  std::optional<std::string> reasoning_trace;
  std::optional<std::string> notes;
  std::vector<std::string> bullet_ids;
  std::string metadata = "{}"; // a JSON object, serialised
  std::optional<std::string> idempotency_key;
};

// Reads POST /v1/playbooks/{id}/outcomes; throws api_error (400 naming the
// field, 413 for a field over its limit).
outcome_input parse_outcome(const api_request& req, const config::outcomes_settings& limits);

// The outcome's own fields of a JSON object (the body above, or an outcome
// of an import), into `in`; the same errors.
void outcome_fields(const nlohmann::json& body, const config::outcomes_settings& limits,
                    outcome_input& in);

// What one playbook looks like when its batch is written.
struct playbook_state {
  int pending = 0;   // pending_outcomes before this batch
  int threshold = 1;
  bool has_active_job = false;
};

// For the k-th new outcome (1-based) of a playbook in a batch: the pending
// count it reports, and whether the evolution threshold is reached by then.
struct outcome_position {
  int pending_after = 0;
  bool threshold_reached = false;
};

outcome_position position(const playbook_state& p, int k);

// True when the batch's `new_outcomes` bring the playbook to its threshold
// with no evolution active: the batch must enqueue one.
bool must_enqueue(const playbook_state& p, int new_outcomes);

// The index of the outcome (among the playbook's new ones, 1-based) that
// first reaches the threshold, or 0 if none does.
int first_reaching(const playbook_state& p, int new_outcomes);

// Splits `keys` (idempotency key per request, nullopt for none; one entry per
// request in arrival order, all for one playbook or already qualified by it)
// into first occurrences and repeats: result[i] = index of the first request
// with the same key, or i itself.
std::vector<std::size_t> first_occurrences(const std::vector<std::optional<std::string>>& keys);

} // namespace troupe::ingestion
