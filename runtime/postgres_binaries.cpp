// Locating the PostgreSQL server binaries: pg_config --bindir, else the
// newest Debian /usr/lib/postgresql/*/bin.
#include "runtime/postgres_internal.hpp"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace troupe::runtime {

using namespace postgres_internal; // the helpers of postgres_internal.hpp

namespace {

namespace fs = std::filesystem;

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

bool has_server_binaries(const std::string& dir) {
  return is_executable_file(dir + "/postgres") && is_executable_file(dir + "/initdb");
}

std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (is_executable_file(candidate)) return candidate;
  }
  return {};
}

std::string bindir_from_pg_config() {
  const std::string pg_config = find_in_path("pg_config");
  if (pg_config.empty()) return {};
  const auto output = capture_output({pg_config, "--bindir"});
  if (!output) return {};
  // Debian's /usr/bin/pg_config comes with libpq-dev and may name a
  // directory without the server, so only accept one that has it.
  const std::string dir = trim(*output);
  return !dir.empty() && has_server_binaries(dir) ? dir : std::string{};
}

// "15" → {15}, "9.6" → {9, 6}; empty if the name does not start with a digit.
std::vector<long> version_key(const std::string& name) {
  std::vector<long> key;
  std::size_t pos = 0;
  while (pos < name.size() && std::isdigit(static_cast<unsigned char>(name[pos]))) {
    std::size_t end = pos;
    while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
    key.push_back(std::strtol(name.substr(pos, end - pos).c_str(), nullptr, 10));
    if (end >= name.size() || name[end] != '.') break;
    pos = end + 1;
  }
  return key;
}

std::string newest_debian_bindir() {
  std::error_code ec;
  std::string best;
  std::vector<long> best_key;
  for (fs::directory_iterator it("/usr/lib/postgresql", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto key = version_key(name);
    const std::string bin = it->path().string() + "/bin";
    if (key.empty() || !has_server_binaries(bin)) continue;
    if (best.empty() || key > best_key) {
      best = bin;
      best_key = key;
    }
  }
  return best;
}

} // namespace

std::string find_postgres_bindir() {
  std::string dir = bindir_from_pg_config();
  return dir.empty() ? newest_debian_bindir() : dir;
}

} // namespace troupe::runtime
