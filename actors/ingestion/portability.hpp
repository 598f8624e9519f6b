// Playbook export and import (docs/portability.md): one JSON document with
// the playbook, every version and every outcome, and a new playbook made
// from such a document (source "imported"), validated as create and
// POST …/outcomes validate, written in one transaction or not at all.
#pragma once

#include "actors/ingestion/outcome_rules.hpp"
#include "config/settings.hpp"
#include "messages/api_types.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/connection>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::ingestion {

inline constexpr const char* export_format = "troupe.playbook-export";
inline constexpr int export_format_version = 1;

struct portability_limits {
  config::playbooks_settings playbooks;
  config::outcomes_settings outcomes;
};

struct imported_version {
  int number = 0;
  std::string content; // normalised (ACE)
  std::int64_t bullet_count = 0;
  std::int64_t token_estimate = 0;
  std::optional<std::string> diff_summary;
  std::optional<std::string> created_at; // RFC 3339
};

struct imported_outcome {
  outcome_input fields;
  std::optional<std::string> processed_at;
  std::optional<std::string> created_at;
};

struct import_document {
  std::string name;
  std::string description;
  std::string status = "active";
  int evolution_threshold = 5;
  std::int64_t next_bullet_id = 1; // at least the counter after every version
  std::optional<int> current_version; // a number of `versions`, or none
  std::optional<std::string> last_evolved_at;
  std::vector<imported_version> versions; // ascending numbers
  std::vector<imported_outcome> outcomes;
};

// Reads an export document; throws api_error naming the field at fault
// ("versions[2].content", "outcomes[7].outcome", …).
import_document read_import(const nlohmann::json& doc, const portability_limits& limits);

// True for an RFC 3339 date-time that names a real instant
// ("2026-12-02T14:20:00.5Z", "…+01:00").
bool is_rfc3339(std::string_view text);

// GET /v1/playbooks/{id}/export and POST /v1/playbooks/import.
api_response export_playbook(pqxx::connection& conn, const api_request& req,
                             const portability_limits& limits);
api_response import_playbook(pqxx::connection& conn, const api_request& req,
                             const portability_limits& limits);

} // namespace troupe::ingestion
