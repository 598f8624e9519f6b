// Helpers shared by critics.cpp (completeness, efficiency, the voter) and
// critics_safety.cpp (the safety critic); not for use elsewhere.
#pragma once

#include "actors/evolution/critics.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace troupe::evolution::critics_internal {

// Vote scores.
inline constexpr double agree = 1.0;
inline constexpr double neutral = 0.5;
inline constexpr double disagree = 0.0;

// A vote whose reason is made one line.
vote make_vote(double score, std::string reason, bool critical = false, bool actionable = false);

// ADD, UPDATE and MERGE carry content; DELETE does not.
bool carries_content(const operation& op);

// A bullet and the section holding it.
struct located {
  const playbook::section* section;
  const playbook::bullet* bullet;
};

// The first bullet with `id`, as apply() finds it.
std::optional<located> locate(const critic_context& ctx, std::string_view id);

// s in double quotes.
std::string quoted(std::string_view s);

} // namespace troupe::evolution::critics_internal
