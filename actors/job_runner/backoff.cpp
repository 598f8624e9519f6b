#include "actors/job_runner/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace troupe::job_runner {

std::chrono::milliseconds retry_delay(int attempt, std::chrono::milliseconds base,
                                      std::chrono::milliseconds max, double unit) {
  int exponent = std::clamp(attempt - 1, 0, 62);
  double raw = static_cast<double>(base.count()) * std::ldexp(1.0, exponent);
  double jittered = raw * (0.75 + 0.5 * std::clamp(unit, 0.0, 1.0));
  double capped = std::min(jittered, static_cast<double>(max.count()));
  return std::chrono::milliseconds{static_cast<long long>(std::max(0.0, capped))};
}

} // namespace troupe::job_runner
