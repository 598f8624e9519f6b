// Projects and their repository analyses (docs/analyzer.md): the API that
// creates projects and queues analyses, the analyzer executor that runs the
// repository_analysis jobs, and the system map's reads.
//
//   POST /v1/projects ─► projects + jobs rows (one transaction) ─► runner
//        ─► analyzer executor: load (fenced) → fetch → analyse → history,
//           each on a blocking worker, a job.progress event after each
//           ─► one fenced transaction: system_maps row, project ready,
//              repository.analyzed, job completed
#pragma once

#include "actors/analyzer/analysis.hpp"
#include "config/settings.hpp"
#include "messages/api.hpp"
#include "messages/jobs.hpp"
#include "runtime/store.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace troupe::analyzer {

struct projects_options {
  int max_attempts = 0;
  std::vector<std::string> allowed_roots;
  std::string credentials_key; // 32 bytes: seals credentials given in a URL
};

struct analyzer_options {
  std::filesystem::path scratch_root; // <data_dir>/analyzer
  std::vector<std::string> allowed_roots;
  std::string credentials_key;
  analysis_limits limits;
  std::int64_t max_bytes = 0;
  int history_commits = 0;
};

projects_options projects_options_from(const config::settings& s, std::string credentials_key);
analyzer_options analyzer_options_from(const config::settings& s, std::string credentials_key);

// The key that seals repository credentials: repository_analyzer.credentials_key
// (base64 of 32 bytes) when set, else one generated once and kept in
// node_settings. Throws when the setting is not 32 bytes of base64.
std::string resolve_credentials_key(const config::settings& s, pqxx::connection& conn);

api_actor spawn_projects_api(caf::actor_system& sys, store_actor store, projects_options opts);

job_executor_actor spawn_analyzer(caf::actor_system& sys, store_actor store, analyzer_options opts);

// Removes what attempts left in the scratch root (a crash mid-analysis);
// called when a node starts, before it takes jobs.
void sweep_scratch(const std::filesystem::path& scratch_root);

// Sealing and opening the credentials of a URL (libsodium secretbox, a fresh
// nonce each time); open() answers nullopt for anything not sealed with key.
std::string seal_credentials(const std::string& key, const std::string& username,
                             const std::string& password);
std::optional<std::pair<std::string, std::string>> open_credentials(const std::string& key,
                                                                    const std::string& sealed);

} // namespace troupe::analyzer
