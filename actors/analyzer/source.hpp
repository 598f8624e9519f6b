// Where a project's repository comes from (docs/analyzer.md, "Fetching" and
// "Credentials"): the URL a client gave, checked and split into what is
// stored and shown (no credentials) and what only the fetch may use. Pure
// apart from resolving local paths on disk; the fuzz target's entry.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::analyzer {

struct repository_source {
  std::string url;      // stored and shown: no credentials; a local path resolved
  std::string username; // from https://user:token@…, percent-decoded; empty if none
  std::string password;
  bool local = false;   // url is a path on this machine
};

// Reads `url` (https, http, git, file:// or an absolute local path; a local
// one must resolve — `..` and symlinks followed — inside one of
// `allowed_roots`). Throws api_error 400 naming repository_url otherwise.
repository_source read_repository_url(std::string_view url,
                                      const std::vector<std::string>& allowed_roots);

// The local path again, when the job runs: nullopt unless it still resolves
// inside an allowed root (a symlink may have changed since).
std::optional<std::string> allowed_local_path(const std::string& path,
                                              const std::vector<std::string>& allowed_roots);

// A ref: a branch, tag or commit name (1..255 of [A-Za-z0-9._/-], no "..",
// not starting with '-' or '/'). Throws api_error 400 naming `ref`.
void check_ref(std::string_view ref);

// The comma-separated roots of repository_analyzer.allowed_local_roots.
std::vector<std::string> split_roots(std::string_view setting);

} // namespace troupe::analyzer
