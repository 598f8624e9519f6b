// A sliding-window rate limiter over string keys (an email, a client
// address, later a credential). Pure logic with a lock: no actor, no clock of
// its own (callers pass `now`), so tests drive time.
//
// The window is approximated the usual way, from two fixed windows: with
// `prev` hits in the previous window, `cur` in the current one and a fraction
// `f` of the current window elapsed, the count is ⌈prev × (1 − f)⌉ + cur (the
// previous window's hits taken as evenly spread, each counted until it slid
// out, so a burst across the boundary counts whole). A hit is allowed while
// that count is below the limit, and counted only then, so a refused client
// does not push its own wait further out.
//
// Memory is bounded: at most `max_keys` keys are tracked. Keys idle for two
// windows are forgotten first; when every tracked key is recent, the least
// recently seen is evicted. Eviction only ever forgets a count (a client gets
// a fresh allowance), it never refuses anybody.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace troupe::runtime {

class sliding_window_limiter {
public:
  using clock = std::chrono::steady_clock;

  struct decision {
    bool allowed = true;
    int limit = 0;
    int remaining = 0;       // hits still allowed in the window after this one
    int retry_after_s = 0;   // refused: whole seconds until a hit would be allowed (>= 1)
    int reset_s = 0;         // seconds until the window has slid past every counted hit (this one included)
  };

  sliding_window_limiter(int limit, std::chrono::seconds window, std::size_t max_keys);

  // Counts a hit for `key` at `now` if it is allowed.
  decision hit(const std::string& key, clock::time_point now) { return hit(key, now, limit_); }

  // The same against `limit` instead of the limiter's own (a credential
  // that carries its own limit); keys share the window and the memory bound.
  decision hit(const std::string& key, clock::time_point now, int limit);

  // What hit() would decide, without counting.
  decision peek(const std::string& key, clock::time_point now) const;

  std::size_t tracked_keys() const;

private:
  struct entry {
    std::int64_t window_index = 0; // which fixed window `current` counts
    int previous = 0;
    int current = 0;
    std::list<std::string>::iterator lru;
  };

  decision judge(const entry& e, double elapsed_fraction, int limit) const;
  void roll(entry& e, std::int64_t index) const;
  void make_room(std::int64_t index);

  int limit_;
  std::chrono::nanoseconds window_;
  std::size_t max_keys_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
  std::list<std::string> lru_; // most recently hit first
};

} // namespace troupe::runtime
