// B7: one evolution with the built-in engine on a 2,000-bullet playbook and
// 200 outcomes (reflect, count, curate, critique rounds, vote, apply,
// budget), timed over several runs. The database part of a job (snapshot and
// commit) is not included; it is measured by B3 end to end.
//
//   troupe_b7 [bullets=2000] [outcomes=200] [runs=5]
#include "actors/evolution/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace troupe::evolution;

namespace {

std::string words(std::mt19937& rng, const std::vector<std::string>& vocabulary, int n) {
  std::uniform_int_distribution<std::size_t> pick{0, vocabulary.size() - 1};
  std::string out;
  for (int i = 0; i < n; ++i)
    out += (i ? " " : "") + vocabulary[pick(rng)];
  return out;
}

snapshot_data make_snapshot(int bullets, int outcomes) {
  std::mt19937 rng{7};
  std::vector<std::string> vocabulary;
  for (int i = 0; i < 3000; ++i)
    vocabulary.push_back("w" + std::to_string(i));
  const char* sections[] = {"STRATEGIES & INSIGHTS", "COMMON MISTAKES TO AVOID",
                            "PROBLEM-SOLVING HEURISTICS"};
  const char* slugs[] = {"sai", "err", "prob"};
  std::string content;
  std::vector<std::string> ids;
  std::uniform_int_distribution<int> counter{0, 6};
  for (int s = 0; s < 3; ++s) {
    content += std::string("## ") + sections[s] + "\n";
    for (int i = s; i < bullets; i += 3) {
      char id[32];
      std::snprintf(id, sizeof id, "%s-%05d", slugs[s], i + 1);
      ids.push_back(id);
      content += std::string("[") + id + "] helpful=" + std::to_string(counter(rng)) +
                 " harmful=" + std::to_string(counter(rng)) + " :: " + words(rng, vocabulary, 12) +
                 "\n";
    }
  }
  snapshot_data snap{content, static_cast<std::int64_t>(bullets) + 1, {}};
  std::uniform_int_distribution<std::size_t> pick_id{0, ids.size() - 1};
  const char* statuses[] = {"success", "failure", "partial"};
  for (int i = 0; i < outcomes; ++i) {
    auto status = statuses[i % 3];
    std::string notes = i % 2 ? "Lesson: " + words(rng, vocabulary, 10) + "." : "";
    snap.outcomes.push_back({"o" + std::to_string(i), status, notes, "",
                             {ids[pick_id(rng)], ids[pick_id(rng)]}, ""});
  }
  return snap;
}

} // namespace

int main(int argc, char** argv) {
  int bullets = argc > 1 ? std::stoi(argv[1]) : 2000;
  int outcomes = argc > 2 ? std::stoi(argv[2]) : 200;
  int runs = argc > 3 ? std::stoi(argv[3]) : 5;
  auto snap = make_snapshot(bullets, outcomes);
  pipeline_config cfg;
  cfg.curation.token_budget = 1000000; // the budget is not what B7 measures
  std::vector<double> ms;
  std::size_t applied = 0, rounds = 0;
  for (int r = 0; r < runs; ++r) {
    auto start = std::chrono::steady_clock::now();
    auto plan = run_builtin(snap, cfg);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    applied = plan.applied.size();
    rounds = plan.rounds.size();
  }
  std::sort(ms.begin(), ms.end());
  std::printf("{\"bullets\":%d,\"outcomes\":%d,\"runs\":%d,\"min_ms\":%.1f,\"median_ms\":%.1f,"
              "\"max_ms\":%.1f,\"operations_applied\":%zu,\"rounds\":%zu}\n",
              bullets, outcomes, runs, ms.front(), ms[ms.size() / 2], ms.back(), applied, rounds);
  return 0;
}
