// The sliding-window limiter, driven by a clock the test holds.
#include "runtime/rate_limiter.hpp"

#include <gtest/gtest.h>

using namespace troupe::runtime;
using namespace std::chrono_literals;

namespace {

using clock_type = sliding_window_limiter::clock;

// A point exactly at the start of a window of `w`.
clock_type::time_point window_start(std::chrono::seconds w) {
  return clock_type::time_point{} + 1000 * w;
}

TEST(RateLimiter, AllowsTheLimitThenRefusesWithTheWait) {
  sliding_window_limiter limiter{3, 60s, 100};
  auto t = window_start(60s);
  for (int i = 0; i < 3; ++i) {
    auto d = limiter.hit("a", t);
    EXPECT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.remaining, 2 - i);
  }
  auto refused = limiter.hit("a", t);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  // Three hits in this window: into the next until they slid to two, i.e.
  // the rest of this window (60 s) and a third of the next (20 s).
  EXPECT_EQ(refused.retry_after_s, 80);
  EXPECT_FALSE(limiter.hit("a", t + 79s).allowed);
  EXPECT_TRUE(limiter.hit("a", t + 80s).allowed);
  EXPECT_TRUE(limiter.hit("b", t).allowed) << "keys are counted apart";
}

TEST(RateLimiter, AKeyMayCarryItsOwnLimit) {
  sliding_window_limiter limiter{10, 60s, 100};
  auto t = window_start(60s);
  EXPECT_EQ(limiter.hit("own", t, 2).remaining, 1);
  EXPECT_EQ(limiter.hit("own", t, 2).remaining, 0);
  auto refused = limiter.hit("own", t, 2);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.limit, 2);
  // The limiter's own limit for the others.
  EXPECT_EQ(limiter.hit("other", t).limit, 10);
  // A key's limit above the limiter's own is honoured too.
  for (int i = 0; i < 15; ++i)
    EXPECT_TRUE(limiter.hit("big", t, 20).allowed) << i;
}

TEST(RateLimiter, TheWindowSlides) {
  sliding_window_limiter limiter{4, 60s, 100};
  auto t = window_start(60s);
  for (int i = 0; i < 4; ++i)
    limiter.hit("a", t);
  // Half-way into the next window the old hits count half: 4 × 0.5 = 2.
  auto half = t + 90s;
  EXPECT_TRUE(limiter.hit("a", half).allowed);  // 2 + 0 < 4
  EXPECT_TRUE(limiter.hit("a", half).allowed);  // 2 + 1 < 4
  auto refused = limiter.hit("a", half);        // 2 + 2
  EXPECT_FALSE(refused.allowed);
  // It frees up once ⌈4 × (1 − f)⌉ + 2 < 4, i.e. at f = 0.75: 15 s on.
  EXPECT_EQ(refused.retry_after_s, 15);
  EXPECT_FALSE(limiter.hit("a", half + 14s).allowed); // ⌈1.07⌉ + 2
  EXPECT_TRUE(limiter.hit("a", half + 15s).allowed);
  // Two windows later nothing is left.
  EXPECT_EQ(limiter.peek("a", t + 181s).remaining, 3);
}

// A burst across the boundary of two fixed windows counts in full: just
// after the boundary the previous window's hits are not a fraction short.
TEST(RateLimiter, ABurstAcrossAWindowBoundaryCountsWhole) {
  sliding_window_limiter limiter{5, 60s, 100};
  auto boundary = window_start(60s) + 60s;
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(limiter.hit("a", boundary - 200ms).allowed);
  for (int i = 0; i < 2; ++i)
    EXPECT_TRUE(limiter.hit("a", boundary + 300ms).allowed);
  auto sixth = limiter.hit("a", boundary + 600ms); // ⌈3 × 0.99⌉ + 2 = 5
  EXPECT_FALSE(sixth.allowed);
  EXPECT_EQ(sixth.remaining, 0);
  // One of the three has slid out once 3 × (1 − f) ≤ 2: f = 1/3, 20 s on.
  EXPECT_EQ(sixth.retry_after_s, 20);
  EXPECT_TRUE(limiter.hit("a", boundary + 20s).allowed);
}

TEST(RateLimiter, RefusedHitsDoNotCount) {
  sliding_window_limiter limiter{1, 10s, 100};
  auto t = window_start(10s);
  EXPECT_TRUE(limiter.hit("a", t).allowed);
  for (int i = 0; i < 100; ++i)
    EXPECT_FALSE(limiter.hit("a", t + 1s).allowed);
  // The one allowed hit decays through the next window as if nothing else came.
  EXPECT_TRUE(limiter.hit("a", t + 20s).allowed);
}

TEST(RateLimiter, TracksAtMostMaxKeysForgettingTheLeastRecent) {
  sliding_window_limiter limiter{1, 60s, 3};
  auto t = window_start(60s);
  for (auto key : {"a", "b", "c"})
    limiter.hit(key, t);
  limiter.hit("a", t + 1s); // refused, but a is now the most recent
  limiter.hit("d", t + 2s); // b is forgotten
  EXPECT_EQ(limiter.tracked_keys(), 3u);
  EXPECT_TRUE(limiter.peek("b", t + 3s).allowed);
  EXPECT_FALSE(limiter.peek("a", t + 3s).allowed);
  EXPECT_FALSE(limiter.peek("c", t + 3s).allowed);
}

} // namespace
