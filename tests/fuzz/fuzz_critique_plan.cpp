// libFuzzer target: critique requests. A body is refused with a client
// error or becomes a job payload; a payload's plan critiques to a final plan
// whose step ids are unique and whose dependencies are known and acyclic.
#include "actors/critique/critique.hpp"
#include "actors/critique/plan_critique.hpp"
#include "messages/errors.hpp"

#include <cstdlib>
#include <set>

using namespace troupe;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  api_request req;
  req.body.assign(reinterpret_cast<const char*>(data), size);
  nlohmann::json payload;
  try {
    payload = critique::read_critique_request(req, critique::options_from(config::settings{}));
  } catch (const api_error& e) {
    if (e.status != 400 && e.status != 413)
      std::abort();
    return 0;
  }
  auto p = critique::plan_from_json(payload["plan"]);
  critique::critique_config cfg;
  cfg.max_iterations = payload["max_iterations"];
  auto result = critique::run(p, cfg);
  const auto& steps = result.final_plan.steps;
  std::set<std::string> ids;
  for (const auto& s : steps)
    if (!ids.insert(s.id).second)
      std::abort();
  for (const auto& s : steps)
    for (const auto& d : s.depends_on)
      if (!ids.count(d))
        std::abort();
  if (critique::dependency_cycle(steps))
    std::abort();
  return 0;
}
