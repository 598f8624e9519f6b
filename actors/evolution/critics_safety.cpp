// The safety critic: votes against content the shared detector finds unsafe
// (unsafe_content.hpp) and against deleting a high performer.
#include "actors/evolution/critics.hpp"

#include "actors/evolution/critics_internal.hpp"
#include "actors/evolution/unsafe_content.hpp"
#include "text/ascii.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::evolution {

using namespace critics_internal; // the helpers of critics_internal.hpp

namespace {

constexpr std::int64_t high_helpful = 5;    // a high performer has helpful > this
constexpr std::int64_t high_harmful = 2;    // … and harmful < this

vote safety_of_delete(const operation& op, const critic_context& ctx) {
  auto found = locate(ctx, op.id);
  if (!found)
    return make_vote(neutral, "no safety concern: " + op.id + " is not in the playbook");
  const auto& b = *found->bullet;
  if (b.helpful > high_helpful && b.harmful < high_harmful)
    return make_vote(disagree, "deletes a high-performing bullet (helpful=" +
                                   std::to_string(b.helpful) +
                                   " harmful=" + std::to_string(b.harmful) + ")");
  if (auto why = unsafe_content(b.content))
    return make_vote(agree, "removes unsafe content: " + *why);
  return make_vote(neutral, "no safety concern");
}

} // namespace

vote safety_vote(const operation& op, const critic_context& ctx) {
  if (op.type == "DELETE")
    return safety_of_delete(op, ctx);
  if (!carries_content(op))
    return make_vote(neutral, "no safety concern");
  if (auto why = unsafe_content(op.content))
    return make_vote(disagree, *why, true);
  std::string text = normalized(op.content);
  if (auto danger = destructive_action(text))
    return make_vote(agree, "destructive action (" + quoted(*danger) + ") comes with a safeguard (" +
                                quoted(*safeguard_of(text)) + ")");
  return make_vote(neutral, "no safety concern");
}

} // namespace troupe::evolution
