// The git side of an analysis, on libgit2 (docs/analyzer.md): fetching a
// repository into a scratch directory and checking out a ref, and reading
// its history. Blocking: called on a blocking worker, never on a CAF
// scheduler thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace troupe::analyzer {

// Why a fetch or a history read failed, and whether trying again may help
// (a network error may pass; a missing ref or a repository over the limit
// will not).
struct git_failure : std::runtime_error {
  git_failure(const std::string& what, bool retryable)
      : std::runtime_error(what), retryable(retryable) {}
  bool retryable;
};

struct fetch_request {
  std::string url;      // without credentials: https://host/repo.git, file:///p, /p
  std::string username; // given to libgit2's credentials callback, never in a URL
  std::string password;
  std::string ref;      // branch, tag or commit; empty for the default branch
  std::filesystem::path into; // must not exist yet
  std::int64_t max_bytes = 0;
  const std::atomic<bool>* stop = nullptr;
};

struct fetch_result {
  std::string commit;   // the commit checked out
  std::string ref_kind; // branch, tag, commit or default
  std::int64_t received_bytes = 0;
  std::int64_t objects = 0;
};

// Clones `url` (no submodules) into `into` and checks out `ref`. Throws
// git_failure; the caller removes `into` whatever happens.
fetch_result fetch(const fetch_request& request);

struct contributor {
  std::string name;
  std::string email;
  std::int64_t commits = 0;
};

struct changed_file {
  std::string path;
  std::int64_t changes = 0;
};

struct history_summary {
  std::int64_t commits = 0;
  std::int64_t contributors = 0;
  std::vector<contributor> top_contributors; // most commits first, at most 10
  std::string last_commit_id;
  std::string last_commit_author;
  std::string last_commit_time; // RFC 3339, UTC
  std::string last_commit_summary;
  int window = 0;                          // the commits most_changed looked at
  std::vector<changed_file> most_changed;  // most changes first, at most 20
};

// The history of the repository in `dir` from its HEAD. Checks `stop` per
// commit.
history_summary read_history(const std::filesystem::path& dir, int window,
                             const std::atomic<bool>& stop);

} // namespace troupe::analyzer
