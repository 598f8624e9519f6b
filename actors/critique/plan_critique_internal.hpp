// A plan lookup shared by plan_critique.cpp (the critics and votes) and
// plan_critique_run.cpp (applying feedback); not for use elsewhere.
#pragma once

#include "actors/critique/plan_critique.hpp"

#include <cstddef>
#include <optional>
#include <string_view>

namespace troupe::critique::plan_critique_internal {

// The position of the step with `id` in the plan, if there is one.
std::optional<std::size_t> index_of(const plan& p, std::string_view id);

} // namespace troupe::critique::plan_critique_internal
