#include "actors/ingestion/outcome_rules.hpp"

#include "actors/playbooks/playbook_format.hpp"
#include "runtime/input.hpp"
#include "text/utf8.hpp"

#include <map>

namespace troupe::ingestion {
namespace {

constexpr std::size_t max_idempotency_key_bytes = 255;
constexpr std::size_t max_bullet_id_bytes = 128;

std::size_t as_size(std::int64_t v) { return static_cast<std::size_t>(v); }

} // namespace

outcome_input parse_outcome(const api_request& req, const config::outcomes_settings& limits) {
  outcome_input in;
  in.playbook_id = input::uuid_param(req, 0, "id");
  in.user_id = req.caller.user_id;
  if (auto it = req.headers.find("idempotency-key"); it != req.headers.end()) {
    const auto& key = it->second;
    if (key.empty() || key.size() > max_idempotency_key_bytes || !text::valid_utf8(key))
      throw invalid_argument("Idempotency-Key",
                             "Idempotency-Key must be 1 to 255 bytes of UTF-8 text");
    in.idempotency_key = key;
  }
  outcome_fields(input::object_body(req), limits, in);
  return in;
}

void outcome_fields(const nlohmann::json& body, const config::outcomes_settings& limits,
                    outcome_input& in) {
  input::only_fields(body, {"task_description", "outcome", "reasoning_trace", "notes",
                            "bullet_ids", "metadata"});
  in.task_description = *input::string_field(
      body, "task_description", {1, as_size(limits.max_task_description_bytes)}, true);
  in.outcome = *input::string_field(body, "outcome", {1, 16}, true);
  if (in.outcome != "success" && in.outcome != "failure" && in.outcome != "partial")
    throw invalid_argument("outcome", "outcome must be one of success, failure, partial");
  in.reasoning_trace = input::string_field(body, "reasoning_trace",
                                           {0, as_size(limits.max_reasoning_trace_bytes)}, false);
  in.notes = input::string_field(body, "notes", {0, as_size(limits.max_notes_bytes)}, false);
  in.bullet_ids = input::string_list_field(body, "bullet_ids", as_size(limits.max_bullet_ids),
                                           max_bullet_id_bytes)
                      .value_or(std::vector<std::string>{});
  if (auto it = body.find("metadata"); it != body.end() && !it->is_null()) {
    if (!it->is_object())
      throw invalid_argument("metadata", "metadata must be a JSON object");
    in.metadata = it->dump();
    if (in.metadata.size() > as_size(limits.max_metadata_bytes))
      throw api_error(413, "payload_too_large",
                      "metadata is larger than " + std::to_string(limits.max_metadata_bytes) +
                          " bytes",
                      "metadata");
  }
}

outcome_position position(const playbook_state& p, int k) {
  int after = p.pending + k;
  return {after, after >= p.threshold};
}

int first_reaching(const playbook_state& p, int new_outcomes) {
  for (int k = 1; k <= new_outcomes; ++k)
    if (position(p, k).threshold_reached)
      return k;
  return 0;
}

bool must_enqueue(const playbook_state& p, int new_outcomes) {
  return !p.has_active_job && first_reaching(p, new_outcomes) > 0;
}

std::vector<std::size_t> first_occurrences(const std::vector<std::optional<std::string>>& keys) {
  std::vector<std::size_t> out(keys.size());
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    out[i] = i;
    if (!keys[i])
      continue;
    auto [it, inserted] = seen.emplace(*keys[i], i);
    if (!inserted)
      out[i] = it->second;
  }
  return out;
}

} // namespace troupe::ingestion
