// libFuzzer target: reading an import document (POST /v1/playbooks/import)
// up to the database — the document's structure, the playbook's fields,
// each version's content (parsed and normalised as create does), each
// outcome's fields and the timestamps. A refusal must be a 400 or 413 that
// names a field; anything else thrown, or an accepted document that breaks
// the rules the database relies on, aborts.
#include "actors/ingestion/portability.hpp"
#include "messages/api_error.hpp"

#include <cstdlib>
#include <nlohmann/json.hpp>

using namespace troupe;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ingestion::portability_limits limits{};
  auto doc = nlohmann::json::parse(data, data + size, nullptr, false);
  if (doc.is_discarded())
    return 0; // the gateway refuses what is not JSON before this reads it
  try {
    auto read = ingestion::read_import(doc, limits);
    for (std::size_t i = 1; i < read.versions.size(); ++i)
      if (read.versions[i].number <= read.versions[i - 1].number)
        std::abort();
    if (!read.versions.empty() && !read.current_version)
      std::abort();
    if (read.name.empty() || read.evolution_threshold < 1 || read.next_bullet_id < 1)
      std::abort();
    for (const auto& v : read.versions)
      if (v.created_at && !ingestion::is_rfc3339(*v.created_at))
        std::abort();
  } catch (const api_error& e) {
    if (e.status != 400 && e.status != 413)
      std::abort();
  }
  return 0;
}
