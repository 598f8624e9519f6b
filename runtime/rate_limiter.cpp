#include "runtime/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace troupe::runtime {
namespace {

// Rounds up, forgiving the floating-point noise of an exact whole number.
int whole_up(double x) { return static_cast<int>(std::ceil(x - 1e-9)); }

} // namespace

sliding_window_limiter::sliding_window_limiter(int limit, std::chrono::seconds window,
                                               std::size_t max_keys)
    : limit_(std::max(limit, 1)), window_(window), max_keys_(std::max<std::size_t>(max_keys, 1)) {}

void sliding_window_limiter::roll(entry& e, std::int64_t index) const {
  if (e.window_index == index)
    return;
  e.previous = e.window_index == index - 1 ? e.current : 0;
  e.current = 0;
  e.window_index = index;
}

// `e` is rolled to the current window by the caller; `f` is the elapsed
// fraction of that window. The previous window's hits still in the sliding
// window are taken as evenly spread and counted whole (rounded up): a burst
// that straddles the boundary between two windows counts in full, where the
// fraction alone (4.97 of 5 just after the boundary) would let one more in.
sliding_window_limiter::decision sliding_window_limiter::judge(const entry& e, double f,
                                                               int limit) const {
  double window_s = std::chrono::duration<double>(window_).count();
  int count = whole_up(e.previous * (1 - f)) + e.current;
  decision d;
  d.limit = limit;
  d.allowed = count < limit;
  d.remaining = std::max(0, limit - count - (d.allowed ? 1 : 0));
  double reset = e.current > 0 ? (2 - f) * window_s : e.previous > 0 ? (1 - f) * window_s : 0;
  d.reset_s = whole_up(reset);
  if (!d.allowed) {
    // Allowed again once at most limit − 1 are counted.
    double wait = 0;
    if (e.current >= limit) {
      // Into the next window, until this window's hits have slid to limit − 1.
      wait = (1 - f) * window_s + window_s * (1 - static_cast<double>(limit - 1) / e.current);
    } else {
      double within = window_s * (1 - static_cast<double>(limit - 1 - e.current) / e.previous) -
                      f * window_s;
      wait = std::min(within, (1 - f) * window_s);
    }
    d.retry_after_s = std::max(1, whole_up(wait));
  }
  return d;
}

void sliding_window_limiter::make_room(std::int64_t index) {
  // Forget keys idle for two windows (their count is zero anyway); if every
  // key is recent, forget the least recently seen one.
  bool evicted = false;
  while (!lru_.empty() && entries_.size() >= max_keys_) {
    auto it = entries_.find(lru_.back());
    bool stale = it->second.window_index < index - 1;
    if (evicted && !stale)
      break;
    entries_.erase(it);
    lru_.pop_back();
    evicted = true;
  }
}

sliding_window_limiter::decision sliding_window_limiter::hit(const std::string& key,
                                                             clock::time_point now, int limit) {
  limit = std::max(limit, 1);
  auto ns = now.time_since_epoch();
  std::int64_t index = ns / window_;
  double f = static_cast<double>((ns % window_).count()) / static_cast<double>(window_.count());
  std::lock_guard guard{mutex_};
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    make_room(index);
    lru_.push_front(key);
    it = entries_.emplace(key, entry{index, 0, 0, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  roll(it->second, index);
  auto d = judge(it->second, f, limit);
  if (d.allowed) {
    ++it->second.current;
    // This hit is in the window now: it slides out two windows from its start.
    d.reset_s = whole_up((2 - f) * std::chrono::duration<double>(window_).count());
  }
  return d;
}

sliding_window_limiter::decision sliding_window_limiter::peek(const std::string& key,
                                                              clock::time_point now) const {
  auto ns = now.time_since_epoch();
  std::int64_t index = ns / window_;
  double f = static_cast<double>((ns % window_).count()) / static_cast<double>(window_.count());
  std::lock_guard guard{mutex_};
  auto it = entries_.find(key);
  entry e = it == entries_.end() ? entry{index, 0, 0, {}} : it->second;
  roll(e, index);
  return judge(e, f, limit_);
}

std::size_t sliding_window_limiter::tracked_keys() const {
  std::lock_guard guard{mutex_};
  return entries_.size();
}

} // namespace troupe::runtime
