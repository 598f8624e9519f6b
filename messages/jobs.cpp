#include "messages/jobs.hpp"

#include <array>

namespace troupe {
namespace {

constexpr std::array<std::string_view, 5> status_names = {"queued", "running", "completed",
                                                          "failed", "cancelled"};
constexpr std::array<std::string_view, 4> end_names = {"completed", "failed", "cancelled", "lost"};

} // namespace

std::string_view to_string(job_status s) { return status_names.at(static_cast<std::size_t>(s)); }

std::optional<job_status> job_status_of(std::string_view s) {
  for (std::size_t i = 0; i < status_names.size(); ++i)
    if (status_names[i] == s)
      return static_cast<job_status>(i);
  return std::nullopt;
}

std::string_view to_string(attempt_end e) { return end_names.at(static_cast<std::size_t>(e)); }

} // namespace troupe
