#include "actors/evolution/pipeline.hpp"

#include <cmath>
#include <stdexcept>

namespace troupe::evolution {
namespace {

using json = nlohmann::json;

std::vector<insight> insights_of(const std::vector<outcome_record>& outcomes,
                                 const std::vector<reflection>& reflections) {
  std::vector<insight> out;
  for (std::size_t i = 0; i < outcomes.size(); ++i)
    if (!reflections[i].insight.empty())
      out.push_back({outcomes[i].id, outcomes[i].outcome, reflections[i].insight});
  return out;
}

std::string describe(const operation& op) {
  if (op.type == "ADD")
    return "ADD to " + op.section + ": " + op.content;
  if (op.type == "MERGE") {
    std::string ids;
    for (const auto& id : op.ids)
      ids += (ids.empty() ? "" : ", ") + id;
    return "MERGE " + ids;
  }
  return op.type + " " + op.id;
}

json vote_json(const vote& v) {
  return {{"score", v.score}, {"reason", v.reason}, {"critical", v.critical}};
}

// The reasons a rejected operation can be revised against.
std::vector<std::string> actionable_feedback(std::size_t i, const critic_votes& c,
                                             const critic_votes& e, const critic_votes& s) {
  std::vector<std::string> out;
  for (const auto* votes : {&c, &e, &s})
    if (i < votes->votes.size() && votes->votes[i].actionable)
      out.push_back(votes->votes[i].reason);
  return out;
}

} // namespace

json to_json(const operation& op) {
  json j = {{"type", op.type}};
  if (!op.section.empty())
    j["section"] = op.section;
  if (!op.content.empty())
    j["content"] = op.content;
  if (!op.id.empty())
    j["id"] = op.id;
  if (!op.ids.empty())
    j["ids"] = op.ids;
  if (op.support)
    j["support"] = op.support;
  if (!op.sources.empty())
    j["sources"] = op.sources;
  if (!op.revised_from.empty())
    j["revised_from"] = op.revised_from;
  return j;
}

evolution_plan start_plan(const snapshot_data& snap, const pipeline_config& /*cfg*/,
                          const reflect_all_fn& reflect_all, const propose_fn& proposer) {
  evolution_plan p;
  p.base = playbook::parse(snap.content);
  p.counted = p.base;
  p.next_id = std::max(snap.next_bullet_id, playbook::next_id_after(p.base));
  p.reflections = reflect_all(snap.outcomes, p.counted);
  if (p.reflections.size() != snap.outcomes.size())
    throw std::logic_error("the reflector must reflect every outcome");
  p.counter_updates = apply_tags(p.counted, p.reflections);
  p.pending = proposer(p.counted, p.reflections, insights_of(snap.outcomes, p.reflections));
  return p;
}

evolution_plan start_plan(const snapshot_data& snap, const pipeline_config& cfg) {
  return start_plan(
      snap, cfg,
      [](const std::vector<outcome_record>& outcomes, const playbook::document& doc) {
        std::vector<reflection> out;
        out.reserve(outcomes.size());
        auto known = bullet_ids_of(doc);
        for (const auto& o : outcomes)
          out.push_back(reflect(o, known));
        return out;
      },
      [&cfg](const playbook::document& counted, const std::vector<reflection>&,
             const std::vector<insight>& insights) {
        return propose(counted, insights, cfg.curation);
      });
}

std::string round_playbook(const evolution_plan& p) {
  auto doc = p.counted;
  auto next = p.next_id;
  apply(doc, p.accepted, next);
  return playbook::print(doc);
}

bool conclude_round(evolution_plan& p, const critic_votes& completeness,
                    const critic_votes& efficiency, const critic_votes& safety,
                    const vote_result& result, const pipeline_config& cfg) {
  ++p.round;
  json proposal = json::array(), votes = json::array(), accepted = json::array(),
       rejected = json::array();
  std::vector<operation> next;
  double total = 0;
  auto doc = playbook::parse(round_playbook(p));
  for (std::size_t i = 0; i < p.pending.size() && i < result.decisions.size(); ++i) {
    const auto& op = p.pending[i];
    const auto& d = result.decisions[i];
    total += d.score;
    proposal.push_back(to_json(op));
    votes.push_back({{"operation", i},
                     {"completeness", vote_json(completeness.votes[i])},
                     {"efficiency", vote_json(efficiency.votes[i])},
                     {"safety", vote_json(safety.votes[i])},
                     {"score", d.score},
                     {"accepted", d.accepted},
                     {"vetoed", d.vetoed}});
    if (d.accepted) {
      accepted.push_back(describe(op));
      p.accepted.push_back(op);
      continue;
    }
    rejected.push_back({{"operation", describe(op)}, {"vetoed", d.vetoed}});
    auto revised = op;
    if (!d.vetoed && revise(revised, actionable_feedback(i, completeness, efficiency, safety), doc,
                            cfg.curation))
      next.push_back(std::move(revised));
  }
  double mean = p.pending.empty() ? 0 : total / static_cast<double>(p.pending.size());
  p.rounds.push_back({{"number", p.round},
                      {"proposal", proposal},
                      {"votes", votes},
                      {"aggregated_score", mean},
                      {"accepted", accepted},
                      {"rejected", rejected}});
  bool improving = p.last_mean < 0 || mean - p.last_mean >= cfg.min_improvement;
  p.last_mean = mean;
  p.pending = std::move(next);
  return !p.pending.empty() && p.round < cfg.max_rounds && improving;
}

void finish(evolution_plan& p, const pipeline_config& cfg) {
  auto doc = p.counted;
  p.applied = apply(doc, p.accepted, p.next_id);
  auto budget = enforce_budget(doc, cfg.curation);
  if (!budget.empty() && budget.front().rfind("rejected", 0) == 0) {
    // Policy reject: the curated result is dropped; the counters still count.
    p.budget_note = budget.front();
    doc = p.counted;
    p.applied.clear();
    // Even the counters alone may not fit a playbook that was already over
    // the budget: then no version is made at all.
    if (playbook::token_estimate(doc) > cfg.curation.token_budget)
      doc = p.base;
  } else if (!budget.empty()) {
    p.budget_note = std::to_string(budget.size()) + " bullet(s) pruned to fit the token budget";
    p.applied.insert(p.applied.end(), budget.begin(), budget.end());
  }
  p.new_content = playbook::print(doc);
  p.changed = p.new_content != playbook::print(p.base);
  auto d = playbook::diff(p.base, doc);
  std::vector<std::string> lines = p.applied;
  std::size_t counter_changes = 0;
  for (const auto& c : d.changed)
    counter_changes += c.from.content == c.to.content;
  if (counter_changes)
    lines.push_back("counters of " + std::to_string(counter_changes) + " bullet(s)");
  p.diff_summary = p.changed ? diff_summary(lines) : "";
}

critic_votes judge(const std::string& perspective, const std::string& playbook_text,
                   const std::vector<operation>& ops, const curation_config& cfg) {
  vote (*rule)(const operation&, const critic_context&) =
      perspective == "completeness" ? completeness_vote
      : perspective == "efficiency" ? efficiency_vote
      : perspective == "safety"     ? safety_vote
                                    : nullptr;
  if (!rule)
    throw std::invalid_argument("no critic perspective named '" + perspective + "'");
  auto doc = playbook::parse(playbook_text);
  // Only the efficiency critic needs the similarity index of the round's
  // facts (building it is most of an evolution's work on a large playbook).
  round_facts facts{doc, cfg, rule == efficiency_vote};
  critic_context ctx{&doc, cfg, &facts};
  critic_votes out{perspective, {}, {}};
  out.votes.reserve(ops.size());
  for (const auto& op : ops)
    out.votes.push_back(rule(op, ctx));
  return out;
}

evolution_plan run_builtin(const snapshot_data& snap, const pipeline_config& cfg) {
  auto p = start_plan(snap, cfg);
  while (!p.pending.empty()) {
    auto text = round_playbook(p);
    auto c = judge("completeness", text, p.pending, cfg.curation);
    auto e = judge("efficiency", text, p.pending, cfg.curation);
    auto s = judge("safety", text, p.pending, cfg.curation);
    vote_result result;
    for (std::size_t i = 0; i < p.pending.size(); ++i)
      result.decisions.push_back(decide(c.votes[i], e.votes[i], s.votes[i], cfg.voting));
    if (!conclude_round(p, c, e, s, result, cfg))
      break;
  }
  finish(p, cfg);
  return p;
}

} // namespace troupe::evolution
