// Iterative self-critique of a plan: applying accepted feedback, the
// iterations and their convergence, and a plan's JSON and dependency cycles.
//
// run(): iteration k critiques the current plan.
//   - no items → recorded (aggregated_score 0), stop: no_actionable_feedback;
//   - otherwise the accepted items are applied; then stop with no_improvement
//     when nothing was accepted (the plan cannot change) or when the mean
//     score improved by less than min_improvement over the previous
//     iteration's (as the evolution pipeline does), else with max_iterations
//     when k == max_iterations (max_iterations <= 0: no iteration at all).
//   Feedback ids are renumbered f1… after dropping already accepted
//   parallelize pairs, so each iteration's ids are contiguous.
#include "actors/critique/plan_critique.hpp"

#include "actors/critique/plan_critique_internal.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::critique {

using namespace plan_critique_internal; // the helpers of plan_critique_internal.hpp

namespace {

using json = nlohmann::json;
using evolution::vote;

// Trailing digits of an id, saturating far below overflow; none → 0.
std::uint64_t numeric_suffix(std::string_view id) {
  std::size_t start = id.size();
  while (start > 0 && id[start - 1] >= '0' && id[start - 1] <= '9')
    --start;
  constexpr std::uint64_t cap = 1'000'000'000'000'000'000ULL;
  std::uint64_t n = 0;
  for (std::size_t i = start; i < id.size(); ++i)
    n = std::min(cap, n * 10 + static_cast<std::uint64_t>(id[i] - '0'));
  return n;
}

// "s<n>", n past the largest suffix in use; an id taken already (suffixes
// saturate, so two huge ones look alike) moves n on until it is free.
std::string fresh_id(const plan& p) {
  std::uint64_t largest = 0;
  std::set<std::string_view> taken;
  for (const auto& s : p.steps) {
    largest = std::max(largest, numeric_suffix(s.id));
    taken.insert(s.id);
  }
  for (auto n = largest + 1;; ++n)
    if (auto id = "s" + std::to_string(n); !taken.contains(id))
      return id;
}

} // namespace

plan apply_feedback(const plan& p, const std::vector<feedback_item>& accepted) {
  plan out = p;
  auto& steps = out.steps;
  for (const auto& it : accepted) {
    if (it.kind == "add_step") {
      plan_step s{fresh_id(out), it.text, {}};
      auto at = it.step.empty() ? std::nullopt : index_of(out, it.step);
      auto pos = at ? *at + 1 : steps.size();
      steps.insert(steps.begin() + static_cast<std::ptrdiff_t>(pos), std::move(s));
    } else if (it.kind == "remove_step") {
      auto at = index_of(out, it.step);
      if (!at)
        continue;
      steps.erase(steps.begin() + static_cast<std::ptrdiff_t>(*at));
      for (auto& s : steps)
        std::erase(s.depends_on, it.step);
    } else if (it.kind == "reorder") {
      auto s = index_of(out, it.step), d = index_of(out, it.other);
      if (!s || !d || *d <= *s)
        continue;
      auto moved = std::move(steps[*d]);
      steps.erase(steps.begin() + static_cast<std::ptrdiff_t>(*d));
      steps.insert(steps.begin() + static_cast<std::ptrdiff_t>(*s), std::move(moved));
    } else if (it.kind == "add_safeguard") {
      auto at = index_of(out, it.step);
      if (!at)
        continue;
      auto id = fresh_id(out);
      steps[*at].depends_on.push_back(id);
      steps.insert(steps.begin() + static_cast<std::ptrdiff_t>(*at),
                   plan_step{id, it.text, {}});
    }
    // parallelize: the plan format has no parallel marker; recorded only.
  }
  return out;
}

critique_run start_run(const plan& p) {
  critique_run run;
  run.current = p;
  return run;
}

bool next_iteration(critique_run& run, const critique_config& cfg) {
  run.items.clear();
  run.item_votes.clear();
  if (!run.converged_because.empty())
    return false;
  int k = static_cast<int>(run.result.iterations.size()) + 1;
  if (k > cfg.max_iterations) {
    run.converged_because = "max_iterations";
    return false;
  }
  for (auto& f : find_feedback(run.current, cfg))
    if (f.kind != "parallelize" || !run.parallel.contains({f.step, f.other}))
      run.items.push_back(std::move(f));
  for (std::size_t i = 0; i < run.items.size(); ++i)
    run.items[i].id = "f" + std::to_string(i + 1);
  if (run.items.empty()) {
    iteration it;
    it.number = k;
    it.before = run.current;
    it.feedback = json::array();
    run.result.iterations.push_back(std::move(it));
    run.converged_because = "no_actionable_feedback";
    return false;
  }
  return true;
}

void conclude_iteration(critique_run& run, const std::vector<evolution::decision>& decisions,
                        const critique_config& cfg) {
  if (decisions.size() != run.items.size())
    throw std::logic_error("one decision per feedback item");
  iteration it;
  it.number = static_cast<int>(run.result.iterations.size()) + 1;
  it.before = run.current;
  it.feedback = json::array();
  std::vector<feedback_item> accepted;
  double total = 0;
  auto vote_json = [](const vote& x) {
    return json{{"score", x.score}, {"reason", x.reason}, {"critical", x.critical}};
  };
  for (std::size_t i = 0; i < run.items.size(); ++i) {
    const auto& f = run.items[i];
    const auto& v = run.item_votes[i];
    const auto& d = decisions[i];
    total += d.score;
    it.feedback.push_back({{"id", f.id},
                           {"critic", f.critic},
                           {"kind", f.kind},
                           {"step", f.step},
                           {"other", f.other},
                           {"text", f.text},
                           {"votes",
                            {{"completeness", vote_json(v.completeness)},
                             {"efficiency", vote_json(v.efficiency)},
                             {"safety", vote_json(v.safety)}}},
                           {"score", d.score},
                           {"accepted", d.accepted}});
    if (d.accepted)
      accepted.push_back(f);
  }
  double mean = total / static_cast<double>(run.items.size());
  it.aggregated_score = mean;
  run.result.iterations.push_back(std::move(it));
  run.items.clear();
  run.item_votes.clear();

  if (accepted.empty()) {
    run.converged_because = "no_improvement"; // the plan cannot change
    return;
  }
  run.current = apply_feedback(run.current, accepted);
  for (const auto& f : accepted)
    if (f.kind == "parallelize")
      run.parallel.insert({f.step, f.other});
  if (run.last_mean && mean - *run.last_mean < cfg.min_improvement) {
    run.converged_because = "no_improvement";
    return;
  }
  run.last_mean = mean;
  if (static_cast<int>(run.result.iterations.size()) == cfg.max_iterations)
    run.converged_because = "max_iterations";
}

critique_result finish_run(critique_run& run) {
  auto r = std::move(run.result);
  r.final_plan = std::move(run.current);
  r.converged_because = run.converged_because;
  return r;
}

critique_result run(const plan& p, const critique_config& cfg) {
  auto r = start_run(p);
  while (next_iteration(r, cfg)) {
    for (const auto& f : r.items)
      r.item_votes.push_back(vote_on(f, r.current));
    std::vector<evolution::decision> decisions;
    for (const auto& v : r.item_votes)
      decisions.push_back(evolution::decide(v.completeness, v.efficiency, v.safety, cfg.voting));
    conclude_iteration(r, decisions, cfg);
  }
  return finish_run(r);
}

json to_json(const plan& p) {
  json steps = json::array();
  for (const auto& s : p.steps)
    steps.push_back({{"id", s.id}, {"text", s.text}, {"depends_on", s.depends_on}});
  return {{"goals", p.goals}, {"steps", std::move(steps)}};
}

plan plan_from_json(const json& j) {
  plan p;
  p.goals = j.at("goals").get<std::vector<std::string>>();
  for (const auto& s : j.at("steps"))
    p.steps.push_back({s.at("id"), s.at("text"), s.at("depends_on").get<std::vector<std::string>>()});
  return p;
}

json to_json(const iteration& it) {
  return {{"number", it.number},
          {"plan", to_json(it.before)},
          {"feedback", it.feedback.is_null() ? json::array() : it.feedback},
          {"aggregated_score", it.aggregated_score}};
}

std::optional<std::vector<std::string>> dependency_cycle(const std::vector<plan_step>& steps) {
  std::map<std::string, const plan_step*> by_id;
  for (const auto& s : steps)
    by_id.emplace(s.id, &s);
  enum class mark { unvisited, on_path, done };
  std::map<std::string, mark> marks;
  std::vector<std::string> path;
  // Depth-first from every step; meeting a step still on the path closes a cycle.
  std::function<bool(const plan_step&)> visit = [&](const plan_step& s) {
    marks[s.id] = mark::on_path;
    path.push_back(s.id);
    for (const auto& d : s.depends_on) {
      auto next = by_id.find(d);
      if (next == by_id.end())
        continue;
      auto m = marks[d];
      if (m == mark::on_path) {
        path.erase(path.begin(), std::find(path.begin(), path.end(), d));
        path.push_back(d);
        return true;
      }
      if (m == mark::unvisited && visit(*next->second))
        return true;
    }
    marks[s.id] = mark::done;
    path.pop_back();
    return false;
  };
  for (const auto& s : steps)
    if (marks[s.id] == mark::unvisited && visit(s))
      return path;
  return std::nullopt;
}

} // namespace troupe::critique
