// Retry delays: exponential, capped, with jitter. Pure logic.
#pragma once

#include <chrono>

namespace troupe::job_runner {

// The delay before the attempt after failed attempt `attempt` (1-based):
// base × 2^(attempt−1), times a jitter factor in [0.75, 1.25) drawn from
// `unit` ∈ [0, 1), then capped at `max`. Never negative, never over `max`.
std::chrono::milliseconds retry_delay(int attempt, std::chrono::milliseconds base,
                                      std::chrono::milliseconds max, double unit);

} // namespace troupe::job_runner
